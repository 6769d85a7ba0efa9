"""Per-service database roles and URLs, without a server: names, URLs, precedence, verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.agent.config import AgentSettings
from services.audit.config import AuditSettings
from services.calendar.config import CalendarSettings
from shared.database_role import DatabaseRole, PrivilegedDatabaseRole, judge_role
from switchboard.database_roles import ServiceRole, role_for, role_sql, roles_from_env
from switchboard.home import StackHome
from switchboard.provisioning import ProvisionError, service_database_url
from switchboard.registry import SERVICES, ServiceEntry, plan
from switchboard.stack_database import database_variables, with_login, without_login


def test_every_service_with_migrations_owns_schemas_and_gets_its_own_role():
    for entry in SERVICES:
        assert bool(entry.migrate) == bool(entry.schemas), entry.name
    assert {entry.name: entry.schemas for entry in SERVICES if entry.schemas} == {
        "audit": ("audit",), "agent": ("agent",), "calendar": ("calendar",)
    }
    assert role_for("agent") == "switchboard_agent"


def test_names_that_are_not_plain_identifiers_never_reach_sql():
    for bad in ("Agent", "a-b", "x; DROP TABLE y", "", "1abc", "a" * 64):
        with pytest.raises(ProvisionError):
            role_sql(bad, "switchboard", ["agent"])
        with pytest.raises(ProvisionError):
            role_sql("switchboard_agent", "switchboard", [bad])


def test_the_role_sql_owns_its_schema_and_takes_nothing_more():
    sql = "\n".join(role_sql("switchboard_agent", "switchboard", ["agent"]))
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS" in sql
    assert "CREATE SCHEMA agent AUTHORIZATION switchboard_agent" in sql
    assert "REVOKE ALL ON SCHEMA agent FROM PUBLIC" in sql
    assert "ALTER DEFAULT PRIVILEGES IN SCHEMA agent GRANT ALL ON TABLES TO switchboard_agent" in sql
    assert "audit" not in sql and "calendar" not in sql and "PASSWORD" not in sql


def test_a_service_url_names_its_role_and_password():
    role = ServiceRole.from_url("agent", "postgresql://switchboard_agent:p%40ss@db:5432/switchboard", ["agent"])
    assert (role.role, role.password, role.schemas) == ("switchboard_agent", "p@ss", ("agent",))
    with pytest.raises(ProvisionError, match="user and a password"):
        ServiceRole.from_url("agent", "postgresql://db/switchboard", ["agent"])


def test_db_roles_needs_every_services_own_url_not_the_shared_one():
    env = {"DATABASE_URL": "postgresql://admin:x@db/s", "AUDIT_DATABASE_URL": "postgresql://switchboard_audit:a@db/s"}
    with pytest.raises(ProvisionError, match="AGENT_DATABASE_URL, CALENDAR_DATABASE_URL"):
        roles_from_env(env, SERVICES)
    env |= {"AGENT_DATABASE_URL": "postgresql://ag:b@db/s", "CALENDAR_DATABASE_URL": "postgresql://cal:c@db/s"}
    assert [(r.service, r.role) for r in roles_from_env(env, SERVICES)] == [
        ("audit", "switchboard_audit"), ("agent", "ag"), ("calendar", "cal")
    ]


def test_a_services_own_url_wins_over_the_shared_one(monkeypatch):
    for name in ("AGENT_DATABASE_URL", "AUDIT_DATABASE_URL", "CALENDAR_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared@db/s")
    monkeypatch.setenv("AGENT_DATABASE_URL", "postgresql://switchboard_agent:x@db/s")
    assert AgentSettings().database_url == "postgresql://switchboard_agent:x@db/s"
    assert AuditSettings().database_url == CalendarSettings().database_url == "postgresql://shared@db/s"
    assert service_database_url({"DATABASE_URL": "a", "AUDIT_DATABASE_URL": "b"}, "audit") == "b"
    assert service_database_url({"DATABASE_URL": "a"}, "audit") == "a"
    assert service_database_url({}, "audit") is None


def test_a_superuser_is_refused_in_production_and_only_warned_about_locally():
    judge_role(DatabaseRole("switchboard_agent", False), "agent", "production")
    judge_role(DatabaseRole("postgres", True), "agent", "local")
    with pytest.raises(PrivilegedDatabaseRole, match="'postgres', a Postgres superuser.*AGENT_DATABASE_URL"):
        judge_role(DatabaseRole("postgres", True), "agent", "production")


def test_urls_with_and_without_a_login():
    url = with_login("postgresql://postgres:secret@127.0.0.1:5432/switchboard", "switchboard_audit", "p/w@")
    assert url == "postgresql://switchboard_audit:p%2Fw%40@127.0.0.1:5432/switchboard"
    assert without_login(url) == "postgresql://127.0.0.1:5432/switchboard"


def test_under_up_each_service_gets_its_own_database_url_and_no_one_else_gets_any(tmp_path: Path):
    entries = [ServiceEntry("gateway", "services.gateway"), ServiceEntry("agent", "services.agent", schemas=("agent",)),
               ServiceEntry("audit", "services.audit", schemas=("audit",))]
    assert database_variables(entries) == {"DATABASE_URL", "AGENT_DATABASE_URL", "AUDIT_DATABASE_URL"}
    home = StackHome(tmp_path)
    try:
        stack = plan(entries, {"NATS_URL": "nats://x"}, home, {"agent": {"DATABASE_URL": "a"}, "audit": {"DATABASE_URL": "b"}})
    finally:
        home.release_ports()
    env = {service.name: service.env for service in stack.services}
    assert "DATABASE_URL" not in env["gateway"] and "DATABASE_URL" not in stack.env
    assert (env["agent"]["DATABASE_URL"], env["audit"]["DATABASE_URL"]) == ("a", "b")


def test_under_up_each_service_gets_both_its_nats_identity_and_its_database_url(tmp_path: Path):
    from switchboard.nats_auth import LocalNatsUsers
    from switchboard.servers import BackingServers
    from switchboard.stack import own_environments

    entries = [ServiceEntry("gateway", "services.gateway"), ServiceEntry("agent", "services.agent", schemas=("agent",)),
               ServiceEntry("audit", "services.audit", schemas=("audit",)), ServiceEntry("sandbox", "switchboard.sandbox")]
    home = StackHome(tmp_path)
    servers = BackingServers(home, {}, lambda _: None)
    servers.nats_users = LocalNatsUsers.generate("WHATSAPP", 4)  # as `up` does when it starts nats-server
    own = own_environments(entries, servers, {"agent": "postgresql://agent@db/x", "audit": "postgresql://audit@db/x"})
    try:
        stack = plan(entries, {"NATS_URL": "nats://x"}, home, own)
    finally:
        home.release_ports()
    env = {service.name: service.env for service in stack.services}
    for name in ("gateway", "agent", "audit"):
        assert env[name]["NATS_USER"] == name
        assert env[name]["NATS_PASSWORD"] == servers.nats_users.passwords[name]
    assert (env["agent"]["DATABASE_URL"], env["audit"]["DATABASE_URL"]) == ("postgresql://agent@db/x", "postgresql://audit@db/x")
    assert "DATABASE_URL" not in env["gateway"]
    assert not {"NATS_USER", "NATS_PASSWORD", "DATABASE_URL"} & set(env["sandbox"])  # not a NATS service
    assert not {"NATS_USER", "NATS_PASSWORD", "DATABASE_URL"} & set(stack.env)  # nothing shared


def test_the_scram_verifier_has_postgres_shape_and_never_holds_the_password():
    from switchboard.scram import scram_verifier

    verifier = scram_verifier("s3cret-password", salt=b"0123456789abcdef")
    assert verifier == scram_verifier("s3cret-password", salt=b"0123456789abcdef")
    assert verifier.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$") and "s3cret" not in verifier
    assert scram_verifier("s3cret-password") != scram_verifier("s3cret-password")  # a new salt each time
    with pytest.raises(ValueError):
        scram_verifier("pässword")


def test_any_database_name_is_quoted():
    sql = role_sql("switchboard_agent", 'switch-board"prod', ["agent"])
    assert 'GRANT CONNECT, TEMPORARY ON DATABASE "switch-board""prod" TO switchboard_agent' in sql
