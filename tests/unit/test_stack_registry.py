"""The service registry `up` runs from: selection, ports and each service's environment."""

from __future__ import annotations

from pathlib import Path

from switchboard.home import StackHome
from switchboard.registry import SERVICES, ServiceEntry, missing_reason, plan, select
from switchboard.servers import nats_answers, without_password


def test_entries_have_distinct_names_and_preferred_ports():
    names = [entry.name for entry in SERVICES]
    ports = [entry.port for entry in SERVICES if entry.port]
    assert len(set(names)) == len(names)
    assert len(set(ports)) == len(ports)
    for entry in SERVICES:
        if entry.migrate:
            module, _, function = entry.migrate.partition(":")
            assert module and function, entry.migrate


def test_gateway_and_the_emulator_are_registered():
    modules = {entry.name: entry.module for entry in SERVICES}
    assert modules["gateway"] == "services.gateway"
    assert modules["sandbox"] == "switchboard.sandbox"


def test_missing_modules_are_skipped_with_a_note():
    entries = [
        ServiceEntry("gateway", "services.gateway"),
        ServiceEntry("ghost", "services.no_such_service"),
        ServiceEntry("library", "json"),  # a package without __main__ cannot run with -m
        ServiceEntry("emulator", "switchboard.sandbox", sandbox_only=True),
    ]
    chosen, notes = select(entries, sandbox=False)
    assert [entry.name for entry in chosen] == ["gateway"]
    assert any(note.startswith("ghost: not started") for note in notes)
    assert any(note.startswith("library: not started") for note in notes)
    chosen, _ = select(entries, sandbox=True)
    assert [entry.name for entry in chosen] == ["gateway", "emulator"]
    assert missing_reason("services.gateway") is None


def test_plan_gives_each_worker_its_own_health_port(tmp_path: Path):
    entries = [
        ServiceEntry("gateway", "services.gateway", port_env="GATEWAY_PORT", port=8000,
                     exports={"PUBLIC_BASE_URL": "http://127.0.0.1:{port}"}),
        ServiceEntry("audit", "services.audit", port_env="HEALTH_PORT", port=8082),
        ServiceEntry("outbound", "services.outbound", port_env="HEALTH_PORT", port=8084),
        ServiceEntry("emulator", "switchboard.sandbox", port_env="SANDBOX_PORT", ready_path=None,
                     env={"SANDBOX_WEBHOOK_URL": "{PUBLIC_BASE_URL}/twilio/messages"},
                     exports={"TWILIO_API_BASE_URL": "http://127.0.0.1:{port}"}),
    ]
    shared = {"NATS_URL": "nats://127.0.0.1:4222", "GATEWAY_PORT": "18123", "HEALTH_PORT": "9999"}
    stack = plan(entries, shared, StackHome(tmp_path), listen=False)
    by_name = {service.name: service for service in stack.services}
    assert by_name["gateway"].port == 18123  # a variable only the gateway uses is honoured
    assert by_name["audit"].env["HEALTH_PORT"] != by_name["outbound"].env["HEALTH_PORT"]
    assert "9999" not in (by_name["audit"].env["HEALTH_PORT"], by_name["outbound"].env["HEALTH_PORT"])
    emulator_port = by_name["emulator"].port
    for service in stack.services:
        assert service.env["NATS_URL"] == "nats://127.0.0.1:4222"
        assert service.env["PUBLIC_BASE_URL"] == "http://127.0.0.1:18123"
        assert service.env["TWILIO_API_BASE_URL"] == f"http://127.0.0.1:{emulator_port}"
    assert by_name["emulator"].env["SANDBOX_WEBHOOK_URL"] == "http://127.0.0.1:18123/twilio/messages"
    assert by_name["emulator"].env["SANDBOX_PORT"] == str(emulator_port)
    assert by_name["audit"].ready_url == f"http://127.0.0.1:{by_name['audit'].port}/readyz"
    assert by_name["emulator"].ready_url is None
    assert by_name["gateway"].child().argv[1:] == ["-m", "services.gateway"]


def test_configured_public_url_wins_over_the_local_default(tmp_path: Path):
    entries = [ServiceEntry("gateway", "services.gateway", port_env="GATEWAY_PORT", port=8000,
                            exports={"PUBLIC_BASE_URL": "http://127.0.0.1:{port}"})]
    stack = plan(entries, {"PUBLIC_BASE_URL": "https://example.test"}, StackHome(tmp_path), listen=False)
    assert stack.services[0].env["PUBLIC_BASE_URL"] == "https://example.test"


def test_nats_answers_reads_every_server_of_a_list():
    assert not nats_answers("nats://127.0.0.1:1,127.0.0.1:2")


def test_passwords_are_not_printed():
    assert without_password("postgresql://app:s3cret@db:5432/switchboard") == "postgresql://app:***@db:5432/switchboard"
    assert without_password("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
