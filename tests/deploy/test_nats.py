"""NATS in the cluster: TLS, a user per service with the permissions of shared/nats_permissions.py,
per-service Secrets, and a NetworkPolicy that admits only Switchboard's pods.

The NATS release's values (deploy/nats/values-auth.yaml) and the Deployments are checked
against the same table `switchboard up` uses for its local nats-server, so the two agree.
"""

from __future__ import annotations

import importlib.util
import sys
from urllib.parse import urlsplit

import pytest
import yaml

from shared.nats_permissions import IDENTITIES, SERVICES, password_variable, table
from tests.deploy.manifests import (
    K8S,
    NATS_DEPLOY,
    OVERLAYS,
    Manifest,
    config,
    env_value,
    load_yaml_documents,
    named,
    of_kind,
    pod_spec,
    render,
    selects,
    workloads,
)
from tests.deploy.source import consumers_run_by
from tests.deploy.test_schemas import problems

overlays = pytest.mark.parametrize("overlay", OVERLAYS)


def generator():
    spec = importlib.util.spec_from_file_location("nats_auth_values", NATS_DEPLOY / "auth.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def auth_values() -> dict:
    return yaml.safe_load((NATS_DEPLOY / "values-auth.yaml").read_text())


# Workloads that never talk to NATS, and so get no identity: db-roles only creates Postgres roles.
WITHOUT_NATS = frozenset({"db-roles"})


def nats_workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [w for w in workloads(manifests) if w["metadata"]["name"] not in WITHOUT_NATS]


# Deployments that connect as `admin`, not as an identity of their own: the privacy worker
# purges the stream by subject and the services' buckets (shared/nats_permissions.py,
# docs/privacy.md "Permissions"), which only the operator identity may.
AS_ADMIN = frozenset({"privacy"})


def identity_of(workload: Manifest) -> str:
    if workload["kind"] == "Job" or workload["metadata"]["name"] in AS_ADMIN:
        return "admin"
    return workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]


@pytest.fixture(scope="session")
def nats_objects(kustomize) -> list[Manifest]:
    return render(kustomize, NATS_DEPLOY)


# --- the one table ---------------------------------------------------------------------------


def test_the_generated_nats_values_are_up_to_date():
    for path, text in generator().outputs().items():
        assert path.exists() and path.read_text() == text, (
            f"{path.relative_to(NATS_DEPLOY.parents[1])} is stale: run `.venv/bin/python deploy/nats/auth.py`"
        )


def test_the_cluster_users_have_exactly_the_permissions_of_the_table():
    env = generator().config_env()
    expected = table(env["STREAM_NAME"], int(env["PARTITIONS"]))
    users = {user["user"]: user for user in auth_values()["config"]["merge"]["authorization"]["users"]}
    assert set(users) == set(IDENTITIES)
    for identity, user in users.items():
        assert user["permissions"] == expected[identity].as_config(), identity
        # No password in the repository: the server reads it from its environment.
        assert user["password"] == f"<< ${password_variable(identity)} >>"


def test_every_password_variable_of_the_server_comes_from_the_users_secret():
    env = auth_values()["container"]["env"]
    template = next(iter(load_yaml_documents(NATS_DEPLOY / "secret.template.yaml")))
    assert set(template["stringData"]) == set(IDENTITIES)
    assert all(value == "" for value in template["stringData"].values())
    for identity in IDENTITIES:
        ref = env[password_variable(identity)]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": template["metadata"]["name"], "key": identity}


# --- the Switchboard side -------------------------------------------------------------------


@overlays
def test_each_workload_connects_as_its_own_user_with_its_own_secret(rendered, overlay):
    manifests = rendered[overlay]
    data = config(manifests)
    seen = set()
    for workload in nats_workloads(manifests):
        identity = identity_of(workload)
        for container in pod_spec(workload)["containers"]:
            assert env_value(container, "NATS_USER", data) == identity, workload["metadata"]["name"]
            password = next(e for e in container["env"] if e["name"] == "NATS_PASSWORD")
            assert password["valueFrom"]["secretKeyRef"] == {"name": f"switchboard-nats-{identity}", "key": "NATS_PASSWORD"}
        seen.add(identity)
    assert seen == set(IDENTITIES), "every identity of the table is used by exactly the workload named for it"
    assert seen - {"admin"} == set(SERVICES)
    for workload in workloads(manifests):
        if workload["metadata"]["name"] in WITHOUT_NATS:  # no NATS credential where none is needed
            for container in pod_spec(workload)["containers"]:
                names = {e["name"] for e in container.get("env", [])}
                assert not names & {"NATS_USER", "NATS_PASSWORD"}, workload["metadata"]["name"]


@overlays
def test_services_reach_nats_over_tls_and_check_its_certificate(rendered, overlay):
    manifests = rendered[overlay]
    data = config(manifests)
    assert urlsplit(data["NATS_URL"]).scheme == "tls"
    ca_file = data["NATS_TLS_CA_FILE"]
    for workload in nats_workloads(manifests):
        spec = pod_spec(workload)
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            mounts = [m for m in container.get("volumeMounts", []) if ca_file.startswith(m["mountPath"] + "/")]
            assert len(mounts) == 1, f"{workload['metadata']['name']}: nothing mounted at {ca_file}"
            assert volumes[mounts[0]["name"]]["secret"]["secretName"] == "switchboard-nats-ca"


def test_the_nats_servers_serve_tls_to_clients_and_routes_with_the_certificate(nats_objects):
    values = yaml.safe_load((NATS_DEPLOY / "values.yaml").read_text())
    certificate = named(nats_objects, "Certificate", "nats-server-tls")
    assert certificate is not None
    secret = certificate["spec"]["secretName"]
    assert values["config"]["nats"]["tls"] == {"enabled": True, "secretName": secret}
    assert values["config"]["cluster"]["tls"]["secretName"] == secret
    assert {"server auth", "client auth"} <= set(certificate["spec"]["usages"])
    host = "nats.nats.svc.cluster.local"
    assert host in certificate["spec"]["dnsNames"] and "*.nats-headless.nats.svc.cluster.local" in certificate["spec"]["dnsNames"]
    assert urlsplit(dict(line.split("=", 1) for line in (K8S / "base" / "config.env").read_text().splitlines()
                         if "=" in line and not line.startswith("#"))["NATS_URL"]).hostname == host


def test_the_nats_objects_validate(nats_objects):
    assert {m["kind"] for m in nats_objects} >= {"Namespace", "Issuer", "Certificate", "NetworkPolicy"}
    assert problems(nats_objects) == []


# --- the NATS namespace's network policy -------------------------------------------------------


NATS_POD = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "nats",
            "app.kubernetes.io/instance": "nats"}


def ingress_to(policies: list[Manifest], labels: dict[str, str], port: int) -> list[dict]:
    """Every `from` peer admitted to pods with `labels` on `port`."""
    peers = []
    for policy in policies:
        if "Ingress" in policy["spec"]["policyTypes"] and selects(policy["spec"]["podSelector"], labels):
            for rule in policy["spec"].get("ingress", []):
                if any(p.get("port") == port for p in rule.get("ports", [])):
                    assert rule.get("from"), f"{policy['metadata']['name']} admits anyone on {port}"
                    peers += rule["from"]
    return peers


def test_the_nats_namespace_denies_everything_not_allowed(nats_objects):
    policies = of_kind(nats_objects, "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert len(deny) == 1


def test_only_switchboard_pods_reach_the_client_port_and_only_nats_the_route_port(nats_objects, rendered):
    policies = of_kind(nats_objects, "NetworkPolicy")
    clients = ingress_to(policies, NATS_POD, 4222)
    assert clients == [{
        "namespaceSelector": {"matchLabels": {"switchboard.io/nats-clients": "true"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "switchboard"}},
    }]
    assert ingress_to(policies, NATS_POD, 6222) == [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "nats"}}}]
    for peer in ingress_to(policies, NATS_POD, 8222):
        assert "podSelector" not in peer and peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] in {
            "keda", "monitoring"}
    # Every Switchboard namespace carries the label the policy admits, and every workload the pod label.
    for overlay in OVERLAYS:
        namespaces = of_kind(rendered[overlay], "Namespace")
        assert namespaces and all(n["metadata"]["labels"].get("switchboard.io/nats-clients") == "true" for n in namespaces)
        for workload in workloads(rendered[overlay]):
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert labels.get("app.kubernetes.io/part-of") == "switchboard", workload["metadata"]["name"]


# --- docker-compose ---------------------------------------------------------------------------


def test_compose_runs_nats_with_the_same_users_and_each_service_as_its_own():
    compose = yaml.safe_load((NATS_DEPLOY.parents[1] / "docker-compose.yml").read_text())
    nats = compose["services"]["nats"]
    assert "./deploy/nats/compose-auth.conf:/etc/nats/auth.conf:ro" in nats["volumes"]
    assert "--config=/etc/nats/auth.conf" in nats["command"]
    for identity in IDENTITIES:
        variable = f"NATS_{identity.upper()}_PASSWORD"
        assert f"${{{variable}:?" in nats["environment"][password_variable(identity)]
        for name in ("migrate", *sorted(AS_ADMIN)) if identity == "admin" else (identity,):
            workload = compose["services"][name]
            assert workload["environment"]["NATS_USER"] == identity, name
            assert workload["environment"]["NATS_PASSWORD"].startswith(f"${{{variable}:?"), name
    assert "NATS_USER" not in compose["services"]["sandbox"]["environment"]


def test_each_service_may_pull_from_exactly_the_consumers_its_code_creates():
    env = generator().config_env()
    stream, partitions = env["STREAM_NAME"], int(env["PARTITIONS"])
    rules = table(stream, partitions)
    prefix = "$JS.API.CONSUMER.MSG.NEXT."
    for service in SERVICES:
        allowed = {subject.removeprefix(prefix).split(".", 1)[1] for subject in rules[service].publish
                   if subject.startswith(prefix)}
        created = set().union(*(use.names(partitions) for use in consumers_run_by(service)))
        assert allowed == created, service
