"""The Dockerfile, read rather than built (Docker does not run on these machines):
multi-stage, one extra per image at locked versions, an unprivileged user, no secrets,
and a build context that holds only what the image needs."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.deploy.source import services_in_code

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# Continuation lines joined, comments dropped.
INSTRUCTIONS = [
    line.strip()
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def stages() -> list[list[str]]:
    found: list[list[str]] = []
    for instruction in INSTRUCTIONS:
        if instruction.upper().startswith("FROM "):
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def test_it_is_multi_stage_on_a_slim_python():
    froms = [s[0] for s in stages()]
    assert len(froms) >= 3
    assert re.match(r"FROM python:\$\{PYTHON_VERSION\}-slim", froms[0])


def test_the_runtime_stage_runs_as_an_unprivileged_numeric_user():
    runtime = stages()[-1]
    users = [i.split()[1] for i in runtime if i.upper().startswith("USER ")]
    assert users, "the final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, "a numeric non-root uid lets Kubernetes check runAsNonRoot"
    assert any(i.startswith("COPY --from=build /opt/venv") for i in runtime)
    assert not any(i.upper().startswith(("RUN PIP", "RUN APT")) for i in runtime), "install in the build stage"


def test_it_installs_only_the_chosen_extras_at_locked_versions():
    install = next(i for i in INSTRUCTIONS if "pip install" in i)
    assert '--constraint requirements.lock ".[${EXTRAS}]"' in install
    assert "ARG EXTRAS=${SERVICE}" in INSTRUCTIONS


@pytest.mark.parametrize("service", services_in_code())
def test_the_default_command_runs_the_service_named_at_build_time(service):
    assert "ARG MODULE=services.${SERVICE}" in INSTRUCTIONS
    assert any("SWITCHBOARD_MODULE=${MODULE}" in i for i in INSTRUCTIONS)
    assert INSTRUCTIONS[-1] == 'CMD ["sh", "-c", "exec python -m \\"$SWITCHBOARD_MODULE\\""]'
    assert (ROOT / "services" / service / "__main__.py").exists()


def test_no_secret_is_baked_in():
    for instruction in INSTRUCTIONS:
        if instruction.upper().startswith(("ARG ", "ENV ")):
            assert not re.search(r"TOKEN|PASSWORD|SECRET|API_KEY|_SID", instruction), instruction


def test_the_build_context_holds_only_what_the_image_copies():
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "exclude everything, then allow what the image needs"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = set()
    for instruction in INSTRUCTIONS:
        if instruction.upper().startswith("COPY ") and "--from=" not in instruction:
            copied |= set(instruction.split()[1:-1])
    assert {c.rstrip("/") for c in copied} <= allowed
    for secret in (".env", ".git", ".venv", ".switchboard"):
        excluded = not any(fnmatch.fnmatch(secret, a) for a in allowed)
        assert excluded, secret
    assert ".env" in patterns


def test_every_image_the_repository_builds_has_its_extra():
    """pip only warns about an undefined extra; the image would lack its dependencies."""
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    wanted = {service: {service} for service in services_in_code()}
    for name, definition in compose["services"].items():
        args = definition.get("build", {}).get("args", {})
        if args:
            wanted[name] = set(str(args.get("EXTRAS", args["SERVICE"])).split(","))
    missing = {name: sorted(need - extras) for name, need in wanted.items() if need - extras}
    assert missing == {}, f"add these extras to pyproject.toml: {missing}"
