"""The NATS permissions table: who may publish each kind of event, call or answer the calendar.

What a real nats-server does with it: tests/integration/test_nats_permissions.py.
"""

from __future__ import annotations

import json
import stat

import pytest
from pydantic import ValidationError

from shared.bus import NatsAccess
from shared.calendar import ENDPOINTS
from shared.events import CATALOG
from shared.nats_permissions import ADMIN, IDENTITIES, SERVICES, inbox_prefix, permissions, table
from shared.settings import ServiceSettings
from switchboard.nats_auth import LocalNatsUsers


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` the rest."""
    want, have = pattern.split("."), subject.split(".")
    for index, token in enumerate(want):
        if token == ">":
            return len(have) > index
        if index >= len(have) or (token != "*" and token != have[index]):
            return False
    return len(want) == len(have)


def who_may_publish(subject: str) -> set[str]:
    return {name for name, rules in table().items() if any(matches(p, subject) for p in rules.publish)}


def who_may_subscribe(subject: str) -> set[str]:
    return {name for name, rules in table().items() if any(matches(p, subject) for p in rules.subscribe)}


def test_each_kind_of_event_has_exactly_its_publishers():
    # A stage may also store again the kind it consumes: automatic dead-letter retries
    # (shared/dead_letter_retry.py). The privacy worker runs as `admin`.
    owners = {
        # the console re-stores a dead-lettered event of the kinds the ordered stages consume
        "received": {"gateway", "transcriber", "console"}, "status": {"gateway"},
        "text": {"transcriber", "agent", "console"}, "reply": {"agent", "outbound", "console"},
        "agent_failed": {"agent"}, "sent": {"outbound"}, "send_failed": {"outbound"}, "calendar": {"calendar"},
        "dead_letter": {"transcriber", "agent", "outbound", "console"}, "privacy": {"agent"},
        "reminder": {"agent", "outbound"}, "preferences": {"agent"},
    }
    assert {cls.kind for cls in CATALOG.values()} == set(owners), "a new kind of event needs a publisher in the table"
    for kind, publishers in owners.items():
        assert who_may_publish(f"wa.{kind}.c0123456789abcdef01234567") == publishers | {ADMIN}, kind


def test_only_the_agent_calls_the_calendar_and_only_the_calendar_answers():
    for endpoint in ENDPOINTS:
        assert who_may_publish(f"calendar.{endpoint}") == {"agent", ADMIN}
        assert who_may_subscribe(f"calendar.{endpoint}") == {"calendar", ADMIN}
    assert who_may_subscribe("$SRV.PING.calendar") == {"calendar", ADMIN}
    assert [name for name, rules in table().items() if rules.allow_responses] == ["calendar"]


def test_services_subscribe_only_to_their_own_inbox_and_never_to_events():
    for name in SERVICES:
        own = f"{inbox_prefix(name)}.abc.1"
        assert who_may_subscribe(own) == {name, ADMIN}
        assert name not in who_may_subscribe("_INBOX.abc.1")
        assert name not in who_may_subscribe("wa.received.3.c0123456789abcdef01234567")


def test_the_console_reads_and_makes_only_unnamed_consumers():
    for subject in ("$JS.API.STREAM.INFO.WHATSAPP", "$JS.API.STREAM.MSG.GET.WHATSAPP", "$JS.API.CONSUMER.LIST.WHATSAPP",
                    "$JS.API.CONSUMER.INFO.WHATSAPP.agent-text-p001", "$JS.API.CONSUMER.CREATE.WHATSAPP",
                    "$JS.FC.WHATSAPP.x.1"):
        assert "console" in who_may_publish(subject), subject
    for subject in ("$JS.API.CONSUMER.CREATE.WHATSAPP.agent-text-p001", "$JS.API.CONSUMER.DURABLE.CREATE.WHATSAPP.x",
                    "$JS.API.CONSUMER.DELETE.WHATSAPP.audit", "$JS.API.CONSUMER.MSG.NEXT.WHATSAPP.audit",
                    "$JS.ACK.WHATSAPP.audit.1.1.1.0.0", "$JS.API.STREAM.PURGE.WHATSAPP", "calendar.create",
                    "$KV.WHATSAPP_PROGRESS.agent-text.c1"):
        assert "console" not in who_may_publish(subject), subject


def test_a_stage_touches_only_its_own_consumers_and_progress_keys():
    assert who_may_publish("$JS.API.CONSUMER.MSG.NEXT.WHATSAPP.agent-text-p015") == {"agent", ADMIN}
    assert who_may_publish("$JS.API.CONSUMER.MSG.NEXT.WHATSAPP.agent-text-p016") == {ADMIN}  # P = 16
    assert who_may_publish("$JS.ACK.WHATSAPP.outbound-reply-p003.1.7.7.0.0") == {"outbound", ADMIN}
    assert who_may_publish("$KV.WHATSAPP_PROGRESS.outbound-reply.c1") == {"outbound", ADMIN}
    assert who_may_publish("$JS.API.CONSUMER.MSG.NEXT.WHATSAPP.audit") == {"audit", ADMIN}
    assert who_may_publish("$KV.OUTBOUND_SENT.abc.1") == {"outbound", ADMIN}
    assert who_may_publish("$JS.API.STREAM.DELETE.WHATSAPP") == {ADMIN}
    assert who_may_publish("$JS.API.DIRECT.GET.WHATSAPP") == {"transcriber", "agent", "outbound", "console", ADMIN}
    assert permissions("agent", partitions=4).publish.count("$JS.ACK.WHATSAPP.agent-text-p003.>") == 1
    with pytest.raises(ValueError, match="unknown NATS identity"):
        permissions("sandbox")


def test_production_needs_a_nats_identity():
    with pytest.raises(ValidationError, match="NATS_USER must be set"):
        ServiceSettings(SWITCHBOARD_ENV="production")
    with pytest.raises(ValidationError, match="NATS_PASSWORD must be set"):
        ServiceSettings(SWITCHBOARD_ENV="production", NATS_USER="agent", NATS_PASSWORD="changeme")
    with pytest.raises(ValidationError, match="go together"):
        ServiceSettings(NATS_USER="agent")
    settings = ServiceSettings(SWITCHBOARD_ENV="production", NATS_USER="agent", NATS_PASSWORD="s3cret-enough")
    options = settings.nats_access().options()
    assert options == {"user": "agent", "password": "s3cret-enough", "inbox_prefix": "_INBOX_agent"}
    assert "s3cret" not in repr(settings) and "s3cret" not in repr(settings.nats_access())
    assert NatsAccess().options() == {}  # an open local server


def test_up_makes_new_passwords_every_run_in_an_owner_only_file(tmp_path):
    first, second = LocalNatsUsers.generate(partitions=8), LocalNatsUsers.generate(partitions=8)
    assert set(first.passwords) == set(IDENTITIES)
    assert not set(first.passwords.values()) & set(second.passwords.values())
    path = first.write(tmp_path / "nats-auth.conf")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = json.loads(path.read_text())["authorization"]["users"]
    assert {u["user"]: u["password"] for u in users} == first.passwords
    assert first.env("agent") == {"NATS_USER": "agent", "NATS_PASSWORD": first.passwords["agent"]}


def test_the_table_names_the_buckets_and_consumers_the_services_use():
    from services.audit.service import DURABLE
    from services.gateway.seen import BUCKET as SEEN
    from services.outbound.ledger import BUCKET as SENT
    from shared import nats_permissions

    assert (nats_permissions.AUDIT_DURABLE, nats_permissions.GATEWAY_BUCKET, nats_permissions.OUTBOUND_BUCKET) == (
        DURABLE, SEEN, SENT)
    from services.reminders import book, timers, worker

    assert nats_permissions.REMINDER_BUCKETS == (book.REMINDERS_BUCKET, book.PREFERENCES_BUCKET)
    assert nats_permissions.TIMER_STREAM == timers.STREAM
    assert (nats_permissions.REMINDER_DISPATCH_DURABLE, nats_permissions.REMINDER_CALENDAR_DURABLE) == (
        worker.DISPATCH_CONSUMER, worker.CALENDAR_CONSUMER)
