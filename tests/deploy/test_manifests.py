"""What a platform team expects of every rendered overlay, checked object by object.

Services come from the code (`services/*/__main__.py` and the processes `switchboard up`
runs, such as the privacy worker), consumer names from the code (tests/deploy/source.py)
and timeouts from the rendered ConfigMap, so a new service, a renamed consumer or a
longer drain timeout fails here until the manifests follow.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.manifests import (
    K8S,
    OVERLAYS,
    Manifest,
    config,
    env_value,
    load_yaml_documents,
    named,
    of_kind,
    pod_labels,
    pod_spec,
    selects,
    workloads,
)
from tests.deploy.source import consumers_of, workloads_in_code

ROOT = Path(__file__).resolve().parents[2]
MODULES = workloads_in_code()  # name -> the module its Deployment runs
SERVICES = list(MODULES)
WORKERS = [s for s in SERVICES if s != "gateway"]
SECRET_NAME = "switchboard-secrets"
# Operator tools off the message path: a fixed replica count, no autoscaler.
FIXED_SIZE = {"console"}
# Singletons: exactly one replica, no autoscaler, replaced with `Recreate` rather than
# surged. The privacy worker keeps users' exports on a ReadWriteOnce volume, which a surge
# pod on another node could never mount (the rollout would hang), and it takes requests
# one at a time from one consumer: there is no lag worth scaling on.
SINGLETONS = {"privacy"}
# Workloads that act for every service that owns a schema, each with that service's own
# role (switchboard/privacy/stores.py), so they read every owner's database Secret under
# `<SERVICE>_DATABASE_URL`, like the Jobs, and never a DATABASE_URL of their own.
ACTS_FOR_EACH_OWNER = {"privacy"}

overlays = pytest.mark.parametrize("overlay", OVERLAYS)


def deployments(manifests: list[Manifest]) -> list[Manifest]:
    return of_kind(manifests, "Deployment")


def containers(workload: Manifest) -> list[dict]:
    return pod_spec(workload)["containers"]


def prestop_sleep_s(container: dict) -> int:
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    if command[:1] == ["sleep"]:
        return int(command[1])
    seconds = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
    return int(seconds or 0)


def port_number(container: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return declared["containerPort"]
    raise AssertionError(f"container {container['name']} has no port named {port!r}")


# --- every service that exists in code is deployed --------------------------------------


def test_the_code_has_the_services_this_suite_expects():
    assert {"gateway", "audit"} <= set(SERVICES)
    assert MODULES["privacy"] == "switchboard.privacy"
    assert "sandbox" not in MODULES  # the Twilio emulator is for local trials only


@overlays
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_in_code_has_a_deployment_running_it(rendered, overlay, service):
    deployment = named(rendered[overlay], "Deployment", service)
    assert deployment is not None, f"{MODULES[service]} exists but the {overlay} overlay has no Deployment for it"
    commands = [c.get("command", []) + c.get("args", []) for c in containers(deployment)]
    assert ["python", "-m", MODULES[service]] in commands


@overlays
def test_a_one_off_migrations_job_runs_before_the_services(rendered, overlay):
    jobs = {job["metadata"]["name"]: job for job in of_kind(rendered[overlay], "Job")}
    assert set(jobs) in ({"migrate"}, {"migrate", "db-roles"})
    (container,) = containers(jobs["migrate"])
    assert container["command"] == ["switchboard", "provision"]
    for job in jobs.values():
        assert pod_spec(job)["restartPolicy"] in ("OnFailure", "Never")
        assert job["spec"]["ttlSecondsAfterFinished"] > 0


# --- pods: probes, resources, non-root, graceful shutdown, spread ------------------------


@overlays
def test_every_container_has_liveness_and_readiness_probes_on_its_own_port(rendered, overlay):
    data = config(rendered[overlay])
    for deployment in deployments(rendered[overlay]):
        name = deployment["metadata"]["name"]
        for container in containers(deployment):
            liveness, readiness = container.get("livenessProbe"), container.get("readinessProbe")
            assert liveness and readiness, f"{name}/{container['name']}: liveness and readiness probes are required"
            assert liveness["httpGet"]["path"] == "/healthz"
            assert readiness["httpGet"]["path"] == "/readyz"
            # The probes must hit the port the process really listens on.
            variable = {"gateway": "GATEWAY_PORT", "console": "CONSOLE_PORT"}.get(name, "HEALTH_PORT")
            listens = env_value(container, variable, data)
            assert listens is not None, f"{name}: set its port explicitly rather than rely on a default"
            for probe in (liveness, readiness, container.get("startupProbe")):
                if probe:
                    assert port_number(container, probe["httpGet"]["port"]) == int(listens), name


@overlays
def test_every_container_has_resource_requests_and_limits(rendered, overlay):
    for workload in workloads(rendered[overlay]):
        for container in containers(workload):
            resources = container.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), container["name"]
            assert "memory" in resources.get("limits", {}), container["name"]


@overlays
def test_every_pod_runs_as_non_root_on_a_read_only_root_filesystem(rendered, overlay):
    for workload in workloads(rendered[overlay]):
        spec = pod_spec(workload)
        pod = spec.get("securityContext", {})
        name = workload["metadata"]["name"]
        assert pod.get("runAsNonRoot") is True, name
        assert pod.get("runAsUser", 0) != 0, name
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container.get("securityContext", {})
            assert context.get("readOnlyRootFilesystem") is True, f"{name}/{container['name']}"
            assert context.get("allowPrivilegeEscalation") is False, f"{name}/{container['name']}"
            assert "ALL" in context.get("capabilities", {}).get("drop", []), f"{name}/{container['name']}"
            assert context.get("runAsUser", pod.get("runAsUser")) != 0


@overlays
def test_the_grace_period_outlasts_the_nats_drain_timeout(rendered, overlay):
    drain_s = float(config(rendered[overlay])["NATS_DRAIN_TIMEOUT_S"])
    for deployment in deployments(rendered[overlay]):
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        for container in containers(deployment):
            # The preStop hook runs before SIGTERM, inside the same grace period.
            needed = drain_s + prestop_sleep_s(container)
            assert grace > needed, f"{deployment['metadata']['name']}: grace {grace}s must exceed {needed}s"


@overlays
def test_rollouts_never_take_a_ready_pod_away_first(rendered, overlay):
    for deployment in deployments(rendered[overlay]):
        if deployment["metadata"]["name"] in SINGLETONS:
            continue  # replaced, not surged: test_a_singleton_keeps_one_replica_on_its_own_volume
        strategy = deployment["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0, deployment["metadata"]["name"]


def claimed_volumes(manifests: list[Manifest], workload: Manifest) -> list[Manifest]:
    """The PersistentVolumeClaims a workload's pods mount."""
    names = {v["persistentVolumeClaim"]["claimName"] for v in pod_spec(workload).get("volumes", [])
             if "persistentVolumeClaim" in v}
    return [c for c in of_kind(manifests, "PersistentVolumeClaim") if c["metadata"]["name"] in names]


@overlays
def test_a_singleton_keeps_one_replica_on_its_own_volume(rendered, overlay):
    manifests = rendered[overlay]
    scaled = {s["spec"]["scaleTargetRef"]["name"]
              for s in of_kind(manifests, "HorizontalPodAutoscaler") + of_kind(manifests, "ScaledObject")}
    for deployment in deployments(manifests):
        name = deployment["metadata"]["name"]
        claims = claimed_volumes(manifests, deployment)
        if name not in SINGLETONS:
            assert not any("ReadWriteOnce" in c["spec"]["accessModes"] for c in claims), (
                f"{name} mounts a ReadWriteOnce volume, which a surge pod on another node cannot: "
                "make it a singleton (SINGLETONS) or use another access mode"
            )
            continue
        assert deployment["spec"]["replicas"] == 1, name
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}, name
        assert name not in scaled, f"{name} is a singleton: no autoscaler"
        # The reason for the exception: a ReadWriteOnce volume only one node can mount.
        assert claims and all("ReadWriteOnce" in c["spec"]["accessModes"] for c in claims), name
    for name in SINGLETONS:
        assert named(manifests, "Deployment", name) is not None, name


@overlays
def test_every_deployment_spreads_across_nodes(rendered, overlay):
    for deployment in deployments(rendered[overlay]):
        constraints = pod_spec(deployment).get("topologySpreadConstraints", [])
        on_nodes = [c for c in constraints if c["topologyKey"] == "kubernetes.io/hostname"]
        assert on_nodes, f"{deployment['metadata']['name']}: no spread across nodes"
        assert all(selects(c["labelSelector"], pod_labels(deployment)) for c in constraints)


@overlays
def test_every_deployment_has_a_disruption_budget_that_allows_drains(rendered, overlay):
    budgets = of_kind(rendered[overlay], "PodDisruptionBudget")
    for deployment in deployments(rendered[overlay]):
        mine = [b for b in budgets if selects(b["spec"]["selector"], pod_labels(deployment))]
        assert len(mine) == 1, f"{deployment['metadata']['name']}: {len(mine)} PodDisruptionBudgets"
        # maxUnavailable keeps a one-replica dev Deployment drainable; minAvailable would not.
        assert mine[0]["spec"].get("maxUnavailable", 0) >= 1


# --- configuration and secrets -----------------------------------------------------------


def secret_documents() -> list[tuple[Path, Manifest]]:
    files = [*K8S.rglob("*.yaml"), *(ROOT / "deploy" / "nats").rglob("*.yaml"), *(ROOT / "deploy").rglob("*.yml"),
             ROOT / "docker-compose.yml"]
    return [(path, doc) for path in files for doc in load_yaml_documents(path) if doc.get("kind") == "Secret"]


def test_no_secret_in_the_repository_holds_a_value():
    found = secret_documents()
    assert found, "the Secret templates should be found"
    for path, secret in found:
        values = {**secret.get("data", {}), **secret.get("stringData", {})}
        filled = [key for key, value in values.items() if value not in ("", None)]
        assert not filled, f"{path.relative_to(ROOT)}: Secret {secret['metadata']['name']} has values for {filled}"


@overlays
def test_no_secret_is_rendered_so_apply_never_overwrites_the_real_one(rendered, overlay):
    assert of_kind(rendered[overlay], "Secret") == []


@overlays
def test_every_secret_key_used_is_in_the_template(rendered, overlay):
    template = {
        doc["metadata"]["name"]: set(doc.get("stringData", {})) | set(doc.get("data", {}))
        for doc in load_yaml_documents(K8S / "secret.template.yaml")
    }
    for workload in workloads(rendered[overlay]):
        spec = pod_spec(workload)
        for container in spec["containers"]:
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] in template:
                    assert ref["key"] in template[ref["name"]], f"{ref['key']} missing from secret.template.yaml"
                elif ref:
                    # Made by an operator (CloudNativePG's `<cluster>-app`, `<cluster>-superuser`), not by people.
                    assert ref["name"].endswith(("-app", "-superuser")), f"unknown Secret {ref['name']}"
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in template


@overlays
def test_the_config_map_sets_every_shared_variable(rendered, overlay):
    data = config(rendered[overlay])
    for name in ("SWITCHBOARD_ENV", "NATS_URL", "STREAM_NAME", "PARTITIONS", "STREAM_REPLICAS",
                 "NATS_DRAIN_TIMEOUT_S", "PUBLIC_BASE_URL", "LOG_LEVEL", "LOG_FORMAT"):
        assert data.get(name), name
    assert data["SWITCHBOARD_ENV"] == "production"
    assert not re.search(r"(TOKEN|PASSWORD|SECRET|_KEY)$", " ".join(data)), "secrets belong in the Secret"


def database_variable(name: str) -> bool:
    return name in ("DATABASE_URL", "DATABASE_ADMIN_URL") or name.endswith("_DATABASE_URL")


@overlays
def test_workloads_with_a_database_may_reach_postgres(rendered, overlay):
    for workload in workloads(rendered[overlay]):
        uses_database = any(
            database_variable(entry["name"]) for c in pod_spec(workload)["containers"] for entry in c.get("env", [])
        )
        allowed = pod_labels(workload).get("switchboard.io/egress-postgres") == "true"
        assert uses_database == allowed, workload["metadata"]["name"]


@overlays
def test_each_service_reads_only_its_own_database_secret(rendered, overlay):
    from switchboard.privacy.stores import database_services
    from switchboard.registry import SERVICES as ENTRIES

    owners = {entry.name for entry in ENTRIES if entry.schemas}
    readers = {entry.name for entry in ENTRIES if entry.reads}  # the console: SELECT on audit only
    acted_for = set(database_services())  # whose tables the privacy worker erases
    assert acted_for and acted_for <= owners
    for workload in workloads(rendered[overlay]):
        name = workload["metadata"]["name"]
        refs = {
            entry["name"]: entry["valueFrom"]["secretKeyRef"]["name"]
            for c in pod_spec(workload)["containers"] for entry in c.get("env", [])
            if database_variable(entry["name"]) and "secretKeyRef" in entry.get("valueFrom", {})
        }
        if workload["kind"] == "Deployment" and name in ACTS_FOR_EACH_OWNER:
            assert refs == {f"{s.upper()}_DATABASE_URL": f"switchboard-db-{s}" for s in acted_for}, name
        elif workload["kind"] == "Deployment":
            expected = {"DATABASE_URL": f"switchboard-db-{name}"} if name in owners | readers else {}
            assert refs == expected, name
        else:  # the Jobs: every service's own URL under its own variable, never a shared one
            assert "DATABASE_URL" not in refs, name
            for service in owners | (readers if name == "db-roles" else set()):  # migrate migrates no reader
                assert refs[f"{service.upper()}_DATABASE_URL"] == f"switchboard-db-{service}", name


# --- the gateway: Service, Ingress, HPA ----------------------------------------------------


@overlays
def test_the_gateway_is_published_on_the_host_twilio_signs(rendered, overlay):
    manifests = rendered[overlay]
    (ingress,) = of_kind(manifests, "Ingress")
    service = named(manifests, "Service", "gateway")
    assert service is not None
    host = urlsplit(config(manifests)["PUBLIC_BASE_URL"]).hostname
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [host]
    assert host in ingress["spec"]["tls"][0]["hosts"]
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    # Only the webhooks are public; health and metrics stay inside the cluster.
    assert [p["path"] for p in paths] == ["/twilio"]
    backend = paths[0]["backend"]["service"]
    assert backend["name"] == "gateway"
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


@overlays
def test_the_gateway_scales_with_a_horizontal_pod_autoscaler(rendered, overlay):
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(rendered[overlay], "HorizontalPodAutoscaler")}
    assert "gateway" in hpas
    assert hpas["gateway"]["spec"]["minReplicas"] >= 1


@overlays
def test_autoscaled_deployments_leave_the_replica_count_to_the_autoscaler(rendered, overlay):
    manifests = rendered[overlay]
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind(manifests, "HorizontalPodAutoscaler")}
    scaled |= {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(manifests, "ScaledObject")}
    for deployment in deployments(manifests):
        name = deployment["metadata"]["name"]
        if name in FIXED_SIZE | SINGLETONS:
            assert name not in scaled and deployment["spec"]["replicas"] >= 1, name
            continue
        assert name in scaled, f"{name} has no autoscaler"
        assert "replicas" not in deployment["spec"], f"{name}: `replicas` would fight the autoscaler on every apply"


# --- workers and KEDA ------------------------------------------------------------------------


@overlays
@pytest.mark.parametrize("service", WORKERS)
def test_every_consuming_worker_has_a_keda_target_naming_the_consumers_its_code_creates(rendered, overlay, service):
    manifests = rendered[overlay]
    data = config(manifests)
    partitions = int(data["PARTITIONS"])
    uses = consumers_of(service)
    scaled = [s for s in of_kind(manifests, "ScaledObject") if s["spec"]["scaleTargetRef"]["name"] == service]
    if service in SINGLETONS:
        # It consumes (the privacy worker: `privacy` on wa.privacy.>), but one replica
        # serves it, so KEDA would have nothing to change.
        assert uses, f"{service}: the suite expected a consuming singleton"
        assert not scaled, f"{service} is a singleton: no ScaledObject"
        return
    if not uses:
        # A request/reply service (the calendar micro service) has no lag to scale on.
        assert not scaled, f"{service} creates no consumer, so KEDA has nothing to watch"
        return
    assert len(scaled) == 1, f"{service} consumes the stream but has {len(scaled)} ScaledObjects"
    expected = set().union(*(use.names(partitions) for use in uses))
    triggers = scaled[0]["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"nats-jetstream"}
    assert {t["metadata"]["stream"] for t in triggers} == {data["STREAM_NAME"]}
    watched = [t["metadata"]["consumer"] for t in triggers]
    assert len(watched) == len(set(watched))
    assert set(watched) == expected, (
        f"{service}: KEDA watches {sorted(set(watched) - expected)} that the code never creates and misses "
        f"{sorted(expected - set(watched))}; run `.venv/bin/python deploy/k8s/scaledobjects.py`"
    )
    if any(use.kind for use in uses):
        # One partition hands out one event at a time: replicas past the partition count only wait.
        assert scaled[0]["spec"]["maxReplicaCount"] <= partitions


def test_every_keda_target_is_a_deployment_in_code(rendered):
    for overlay in OVERLAYS:
        for scaled in of_kind(rendered[overlay], "ScaledObject"):
            assert scaled["spec"]["scaleTargetRef"]["name"] in WORKERS


def test_the_generated_scaled_objects_are_up_to_date():
    import importlib.util

    spec = importlib.util.spec_from_file_location("scaledobjects", K8S / "scaledobjects.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    for path, text in module.outputs().items():
        assert path.exists() and path.read_text() == text, (
            f"{path.relative_to(ROOT)} is stale: run `.venv/bin/python deploy/k8s/scaledobjects.py`"
        )
    assert set(module.WORKERS) >= {s for s in WORKERS if consumers_of(s) and s not in SINGLETONS}
    assert not set(module.WORKERS) & SINGLETONS


# --- network policies ------------------------------------------------------------------------


def policies_for(manifests: list[Manifest], labels: dict[str, str], direction: str) -> list[Manifest]:
    return [
        p for p in of_kind(manifests, "NetworkPolicy")
        if direction in p["spec"].get("policyTypes", []) and selects(p["spec"]["podSelector"], labels)
    ]


def from_outside_the_namespace(rule: dict) -> bool:
    """A rule admitting traffic other than Prometheus scraping from the monitoring namespace."""
    peers = rule.get("from")
    if not peers:
        return True
    for peer in peers:
        namespace = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        if "ipBlock" in peer or ("namespaceSelector" in peer and namespace != "monitoring"):
            return True
    return False


@overlays
def test_everything_is_denied_unless_allowed(rendered, overlay):
    deny = [
        p for p in of_kind(rendered[overlay], "NetworkPolicy")
        if p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress") and not p["spec"].get("egress")
    ]
    assert len(deny) == 1


@overlays
def test_only_the_gateway_is_reachable_from_outside(rendered, overlay):
    manifests = rendered[overlay]
    for workload in workloads(manifests):
        name = workload["metadata"]["name"]
        for policy in policies_for(manifests, pod_labels(workload), "Ingress"):
            for rule in policy["spec"].get("ingress", []):
                if from_outside_the_namespace(rule):
                    assert name == "gateway", f"{policy['metadata']['name']} opens {name} to outside traffic"
                    assert [p["port"] for p in rule["ports"]] == ["http"]
                else:
                    assert {p["port"] for p in rule["ports"]} <= {"health", "http"}, policy["metadata"]["name"]
    gateway = named(manifests, "Deployment", "gateway")
    assert any(
        from_outside_the_namespace(rule)
        for policy in policies_for(manifests, pod_labels(gateway), "Ingress")
        for rule in policy["spec"].get("ingress", [])
    ), "the gateway must be reachable from the ingress controller"


@overlays
def test_the_console_is_never_published_and_only_its_proxy_may_reach_it(rendered, overlay):
    manifests = rendered[overlay]
    console = named(manifests, "Deployment", "console")
    assert console is not None
    for ingress in of_kind(manifests, "Ingress"):
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                assert path["backend"]["service"]["name"] != "console", f"{ingress['metadata']['name']} publishes it"
    service = named(manifests, "Service", "console")
    assert service is not None and service["spec"].get("type", "ClusterIP") == "ClusterIP"
    sources = [
        rule for policy in policies_for(manifests, pod_labels(console), "Ingress")
        for rule in policy["spec"].get("ingress", []) if {p["port"] for p in rule["ports"]} == {"http"}
    ]
    assert sources and all(not from_outside_the_namespace(rule) for rule in sources)
    for rule in sources:
        assert all(peer.get("podSelector", {}).get("matchLabels") == {"switchboard.io/console-client": "true"}
                   for peer in rule["from"]), rule
    (container,) = containers(console)
    names = {entry["name"] for entry in container.get("env", [])}
    assert {"CONSOLE_AUTH_HEADER", "CONSOLE_AUTH_TOKEN"} <= names  # production refuses to start without one


@overlays
def test_workers_reach_only_dns_nats_postgres_and_https(rendered, overlay):
    manifests = rendered[overlay]
    for workload in workloads(manifests):
        labels = pod_labels(workload)
        allowed = {53, 4222}
        if labels.get("switchboard.io/egress-postgres") == "true":
            allowed.add(5432)
        if labels.get("switchboard.io/egress-internet") == "true":
            allowed.add(443)
        if labels.get("switchboard.io/egress-health") == "true":  # the console's system page
            allowed |= {8000, 8081, 8222}
        reachable: set[int] = set()
        for policy in policies_for(manifests, labels, "Egress"):
            for rule in policy["spec"].get("egress", []):
                assert rule.get("ports"), f"{policy['metadata']['name']} allows every port"
                reachable |= {p["port"] for p in rule["ports"]}
        assert {53, 4222} <= reachable, workload["metadata"]["name"]
        assert reachable <= allowed, f"{workload['metadata']['name']} may reach ports {sorted(reachable - allowed)}"


# --- images ------------------------------------------------------------------------------------


def test_production_images_are_pinned():
    kustomization = yaml.safe_load((K8S / "overlays" / "prod" / "kustomization.yaml").read_text())
    for image in kustomization["images"]:
        assert image.get("digest") or image.get("newTag") not in (None, "latest", "main"), image["name"]


@overlays
def test_every_service_image_is_set_by_the_overlay(rendered, overlay):
    kustomization = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())
    names = {image["name"] for image in kustomization["images"]}
    for workload in workloads(rendered[overlay]):
        for container in pod_spec(workload)["containers"]:
            assert not container["image"].startswith("switchboard/"), (
                f"{container['image']}: add it to the `images` of overlays/{overlay} ({sorted(names)})"
            )
