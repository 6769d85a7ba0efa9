"""Every rendered object is valid: Kubernetes objects against the Kubernetes schemas
(offline, with kubernetes-validate, strict so an unknown field fails), custom resources
against the structural schemas in crds.py."""

from __future__ import annotations

import jsonschema
import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from tests.deploy.crds import validate_custom_resource
from tests.deploy.manifests import CRD_GROUPS, OVERLAYS, Manifest

# The oldest Kubernetes the manifests support (docs/deploy.md) and the newest schemas.
KUBERNETES_VERSIONS = ("1.29.0", latest_version())


def problems(manifests: list[Manifest]) -> list[str]:
    found = []
    for manifest in manifests:
        label = f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
        if manifest["apiVersion"].split("/")[0] in CRD_GROUPS:
            try:
                validate_custom_resource(manifest)
            except (jsonschema.ValidationError, KeyError) as exc:
                found.append(f"{label}: {getattr(exc, 'message', exc)}")
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                found.append(f"{label} (Kubernetes {version}): {exc.message} at {list(exc.absolute_path)}")
            except kubernetes_validate.SchemaNotFoundError:
                found.append(f"{label}: no schema for {manifest['apiVersion']} in Kubernetes {version}")
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_of_the_overlay_validates(rendered, overlay):
    manifests = rendered[overlay]
    assert len(manifests) > 10
    assert problems(manifests) == []


def test_every_optional_component_renders_and_validates(with_every_component):
    kinds = {m["kind"] for m in with_every_component}
    assert {"Cluster", "PodMonitor", "PrometheusRule"} <= kinds
    assert problems(with_every_component) == []


def test_a_misspelt_field_is_caught():
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "x", "image": "x", "livenesProbe": {}}]},
            },
        },
    }
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {"scaleTargetRef": {"name": "x"}, "maxReplicas": 3, "triggers": [{"type": "cpu", "metadata": {}}]},
    }
    assert len(problems([deployment])) == len(KUBERNETES_VERSIONS)
    assert len(problems([scaled])) == 1
