"""docker-compose.yml: valid against the Compose Specification schema (vendored in
schemas/, so this runs offline), and shaped the way the stack needs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.deploy.source import workloads_in_code

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
INFRASTRUCTURE = {"nats", "postgres", "migrate", "sandbox"}
DRAIN_DEFAULT_S = 20  # NATS_DRAIN_TIMEOUT_S's default in shared/settings.py
# Act for every service that owns a schema, each with that service's own role
# (switchboard/privacy/stores.py): given every owner's URL as `<SERVICE>_DATABASE_URL`,
# like migrate, and no DATABASE_URL of their own.
ACTS_FOR_EACH_OWNER = {"privacy"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def seconds(duration: str) -> float:
    """A compose duration such as `1m30s` or `90s`."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_the_compose_file_validates_against_the_compose_spec(compose):
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == []


def test_the_schema_catches_a_misspelt_key(compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["gateway"]["healtcheck"] = broken["services"]["gateway"].pop("healthcheck")
    assert list(jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(broken))


@pytest.mark.parametrize(("service", "module"), workloads_in_code().items())
def test_every_service_in_code_runs_in_compose(compose, service, module):
    assert service in compose["services"], f"{module} exists but docker-compose.yml does not run it"
    definition = compose["services"][service]
    assert definition["command"] == ["python", "-m", module]
    args = definition["build"]["args"]
    assert args["SERVICE"] == service
    # The image's own default command runs the same module (Dockerfile, MODULE).
    assert args.get("MODULE", f"services.{service}") == module


def test_nats_runs_jetstream_on_a_volume_with_monitoring_and_a_healthcheck(compose):
    nats = compose["services"]["nats"]
    assert "--jetstream" in nats["command"]
    assert "--store_dir=/data" in nats["command"]
    assert any(flag.startswith("--http_port=") for flag in nats["command"])
    assert any(volume.endswith(":/data") and volume.split(":")[0] in compose["volumes"] for volume in nats["volumes"])
    assert "js-enabled-only" in " ".join(nats["healthcheck"]["test"])


def test_postgres_keeps_its_data_on_a_volume_with_a_healthcheck(compose):
    postgres = compose["services"]["postgres"]
    assert any(v.split(":")[0] in compose["volumes"] for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_every_service_waits_for_the_migrations_and_healthy_dependencies(compose):
    services = compose["services"]
    assert services["migrate"]["command"] == ["switchboard", "provision"]
    assert services["migrate"]["restart"] == "no"
    for name, definition in services.items():
        for dependency, condition in definition.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck to wait for"
        if name in INFRASTRUCTURE:
            continue
        depends = definition.get("depends_on", {})
        assert depends.get("migrate") == {"condition": "service_completed_successfully"}, name
        assert depends.get("nats") == {"condition": "service_healthy"}, name
        if any(variable.endswith("DATABASE_URL") for variable in definition["environment"]):
            assert depends.get("postgres") == {"condition": "service_healthy"}, name


def test_every_switchboard_container_is_unprivileged_and_stops_gracefully(compose):
    for name, definition in compose["services"].items():
        if name in {"nats", "postgres"}:
            continue
        assert definition["user"] == "10001:10001", name
        assert definition["read_only"] is True, name
        assert definition["cap_drop"] == ["ALL"], name
        if name != "migrate":
            assert "healthcheck" in definition, name
            assert seconds(definition["stop_grace_period"]) > DRAIN_DEFAULT_S, name


def test_the_twilio_emulator_runs_only_in_the_sandbox_profile(compose):
    sandbox = compose["services"]["sandbox"]
    assert sandbox["profiles"] == ["sandbox"]
    assert sandbox["command"] == ["python", "-m", "switchboard.sandbox"]
    for name, definition in compose["services"].items():
        assert name == "sandbox" or "profiles" not in definition, f"{name} must run without a profile"


def test_secrets_come_from_the_env_file_and_every_variable_is_documented(compose):
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    for definition in compose["services"].values():
        # A key without a value is passed through from .env (or left unset).
        used |= {key for key, value in definition.get("environment", {}).items() if value is None}
    documented = set(re.findall(r"^#? ?([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert used - documented == set(), "document these in .env.example"
    for name, definition in compose["services"].items():
        environment = definition.get("environment", {})
        for key, value in environment.items():
            if re.search(r"(TOKEN|PASSWORD|SECRET|API_KEY|_SID)$", key):
                assert value is None or "${" in str(value), f"{name}: {key} must come from .env, not the compose file"
    assert not (ROOT / ".env").exists() or ".env" in (ROOT / ".gitignore").read_text()


def test_each_service_logs_in_to_postgres_as_its_own_role(compose):
    from switchboard.privacy.stores import database_services
    from switchboard.registry import SERVICES

    def user(url: str) -> str:
        return url.split("://", 1)[1].split(":", 1)[0]

    owners = {entry.name for entry in SERVICES if entry.schemas or entry.reads}  # the console only reads
    migrate = compose["services"]["migrate"]["environment"]
    assert user(migrate["DATABASE_ADMIN_URL"]).startswith("${POSTGRES_USER")
    assert "DATABASE_URL" not in migrate
    for name, definition in compose["services"].items():
        environment = definition.get("environment", {})
        if name in ACTS_FOR_EACH_OWNER:
            variables = {f"{service.upper()}_DATABASE_URL" for service in database_services()}
            assert {v for v in environment if "DATABASE" in v} == variables, name
            for variable in variables:
                assert environment[variable] == migrate[variable], f"{name}: {variable} is not the owner's role"
        elif name in owners:
            assert user(environment["DATABASE_URL"]) == f"switchboard_{name}", name
            assert environment["DATABASE_URL"] == migrate[f"{name.upper()}_DATABASE_URL"], name
        elif name != "migrate":
            assert not any("DATABASE" in variable for variable in environment), name


def test_the_privacy_worker_keeps_its_exports_on_a_named_volume(compose):
    """Exports wait for the operator across restarts; the root filesystem is read-only."""
    privacy = compose["services"]["privacy"]
    directory = privacy["environment"]["PRIVACY_EXPORT_DIR"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in privacy["volumes"]}
    assert mounts.get(directory) in compose["volumes"], f"{directory} is not on a named volume"
