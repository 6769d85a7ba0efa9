"""Erasing a user everywhere, on the whole stack: nothing of theirs is left in any stream,
bucket, table or info log; other users are untouched; their next message is answered as
a fresh conversation. And the export holds every kind of data they produced, nothing of
anyone else's."""

from __future__ import annotations

import dataclasses
import json
import os

import asyncpg

from services.agent.privacy import AgentData
from services.audit.replay import replay
from shared.eventlog_jetstream import JetStreamEventLog
from shared.events import decode
from shared.ids import conversation_id
from shared.logging import configure_logging
from shared.privacy_jetstream import StreamData
from switchboard.privacy.erasure import erase_user, erasure_records, subject_for
from switchboard.privacy.export import export_user
from switchboard.privacy.session import privacy_deps
from tests.integration.test_agent_memory import BUSINESS
from tests.integration.test_agent_stack import VOICE_NOTE
from tests.integration.test_database_roles import roles  # noqa: F401  (a fixture: each service's own role)
from tests.privacy_rig import privacy_stack, scan_streams, scan_tables, scan_text, settled

ALICE, BOB = "+34600777888", "+447400999111"
ALICE_WORD, ALICE_VOICE_WORD, BOB_WORD = "zanzibarquux", "quokkaberry", "bobsledwombat"


async def alice_and_bob(stack) -> None:
    """Alice writes text, speaks, books a calendar event and is answered; Bob writes too."""
    await stack.chat(ALICE, f"hello, my password hint is {ALICE_WORD}")
    stack.speech.respond(VOICE_NOTE, f"what do I have tomorrow {ALICE_VOICE_WORD}")
    await stack.chat(ALICE, media=[(VOICE_NOTE, "audio/ogg")])
    created = await stack.chat(ALICE, f"Schedule lunch with {ALICE_WORD.title()} tomorrow at 1")
    assert "is in your calendar" in created
    await stack.chat(BOB, f"Schedule tennis with {BOB_WORD.title()} tomorrow at 5")


async def test_erasing_a_user_leaves_nothing_of_theirs_anywhere(bus, database_url, capfd):
    configure_logging("privacy-test", "info", "json")
    alice, bob = conversation_id(BUSINESS, ALICE), conversation_id(BUSINESS, BOB)
    env = {"DATABASE_URL": database_url}
    async with privacy_stack(bus, database_url) as stack:
        await alice_and_bob(stack)
        await settled(bus, database_url, (alice, bob))
        alice_needles = [ALICE, ALICE.lstrip("+"), alice, ALICE_WORD, ALICE_VOICE_WORD]
        assert await scan_streams(bus, alice_needles) and await scan_tables(database_url, alice_needles)
        bob_before = await scan_streams(bus, [bob, BOB_WORD]), await scan_tables(database_url, [bob, BOB_WORD])

        async with privacy_deps(bus, database_url, env) as deps:
            record = await erase_user(deps, ALICE, "operator-ana")
            again = await erase_user(deps, ALICE, "operator-ana")  # idempotent: nothing left to remove
        assert record.state == again.state == "completed" and sum(record.removed.values()) > 0
        assert {"stream", "audit", "agent", "calendar", "gateway_seen", "outbound_sent", "progress"} <= set(record.removed)
        assert sum(again.removed.values()) == 0

        logs = capfd.readouterr()
        leftovers = (await scan_streams(bus, alice_needles) + await scan_tables(database_url, alice_needles)
                     + scan_text("logs", logs.out + logs.err, alice_needles))
        assert leftovers == []
        assert (await scan_streams(bus, [bob, BOB_WORD]), await scan_tables(database_url, [bob, BOB_WORD])) == bob_before

        # What remains: the erasure record, with no personal data.
        kept = await erasure_records(JetStreamEventLog(bus))  # one per run, none of them personal
        assert len(kept) == 2 and {r["cut_seq"] for r in kept} == {record.cut_seq, again.cut_seq}
        assert all(r["state"] == "completed" and r["requested_by"] == "operator-ana" and r["conversations"] == []
                   for r in kept)

        # Alice writes again: a fresh conversation, answered (no stale `answered_seq` holds it back).
        reply = await stack.chat(ALICE, "hello again")
        assert reply and ALICE_WORD not in reply.lower()


async def test_the_export_holds_every_kind_of_data_and_nothing_of_others(bus, database_url, tmp_path):
    alice, bob = conversation_id(BUSINESS, ALICE), conversation_id(BUSINESS, BOB)
    async with privacy_stack(bus, database_url) as stack:
        await alice_and_bob(stack)
        await settled(bus, database_url, (alice, bob))
        async with privacy_deps(bus, database_url, {"DATABASE_URL": database_url}) as deps:
            path = await export_user(deps, ALICE, "operator-ana", tmp_path)
    assert os.stat(path).st_mode & 0o777 == 0o600 and ALICE not in path.name
    text = path.read_text()
    document = json.loads(text)
    stores = document["stores"]
    types = {item["event"]["type"] for item in stores["stream"]}
    assert {"MessageReceived", "MessageTranscribed", "ReplyComposed", "MessageSent", "CalendarEventCreated"} <= types
    assert any(item["event"]["data"].get("source") == "voice" for item in stores["stream"])
    assert stores["calendar"]["local"] and ALICE_WORD in json.dumps(stores["calendar"]).lower()
    assert stores["agent"]["memory"] and ALICE_WORD in json.dumps(stores["agent"]).lower()
    assert stores["audit"]["messages"] and stores["audit"]["events"] and stores["audit"]["conversations"]
    assert stores["gateway_seen"] and stores["outbound_sent"]
    assert ALICE_WORD in text.lower() and ALICE_VOICE_WORD in text.lower()
    assert BOB not in text and BOB.lstrip("+") not in text and bob not in text and BOB_WORD not in text.lower()


async def test_a_message_during_the_erasure_starts_afresh_and_replay_resurrects_nothing(bus, database_url):
    alice = conversation_id(BUSINESS, ALICE)
    async with privacy_stack(bus, database_url) as stack:
        await alice_and_bob(stack)
        await settled(bus, database_url, (alice,))
        meanwhile: list[str] = []

        async def alice_writes(store: str, record) -> None:
            if store == "calendar":  # half-way: the calendar is erased, her memory and the stream not yet
                meanwhile.append(await stack.chat(ALICE, "what do I have tomorrow?"))

        async with privacy_deps(bus, database_url, {"DATABASE_URL": database_url}) as deps:
            record = await erase_user(dataclasses.replace(deps, after_store=alice_writes), ALICE, "operator-ana")
            memory = await AgentData(database_url).export(await subject_for(deps, ALICE))
        assert meanwhile == ["You have nothing in your calendar tomorrow."]

        # Her message and its reply are kept, after the cut; nothing of before is.
        kept = [decode(m.data) for m in await StreamData(JetStreamEventLog(bus), bus.js).messages(alice)]
        assert {type(e).__name__ for e in kept} >= {"MessageReceived", "MessageTranscribed", "ReplyComposed"}
        # The agent answered it on a fresh thread that holds only the new conversation.
        [thread] = memory["memory"]
        assert thread["thread"] == f"{alice}.{record.cut_seq}"
        assert "what do I have tomorrow?" in json.dumps(thread) and ALICE_WORD not in json.dumps(thread).lower()

        words = [ALICE_WORD, ALICE_VOICE_WORD]
        assert await scan_streams(bus, words) == [] and await scan_tables(database_url, words) == []
        await settled(bus, database_url, (alice,))
    report = await replay(JetStreamEventLog(bus), database_url)
    assert report.events_read > 0
    assert await scan_tables(database_url, words) == []
    conn = await asyncpg.connect(database_url)
    try:
        old = await conn.fetchval("SELECT count(*) FROM audit.events WHERE conversation = $1 AND stream_seq <= $2",
                                  alice, record.cut_seq)
        rebuilt = await conn.fetchval("SELECT inbound_count FROM audit.conversations WHERE conversation = $1", alice)
    finally:
        await conn.close()
    assert old == 0 and rebuilt == 1  # only the message written during the erasure


async def test_each_store_is_erased_by_its_own_services_role(bus, database_url, roles):
    """Under per-service database roles no role can touch every schema: each store is
    erased with its owner's URL, and nothing is left."""
    alice, bob = conversation_id(BUSINESS, ALICE), conversation_id(BUSINESS, BOB)
    async with privacy_stack(bus, database_url, urls=roles) as stack:
        await alice_and_bob(stack)
        await settled(bus, database_url, (alice, bob))
    environ = {f"{service.upper()}_DATABASE_URL": url for service, url in roles.items()}
    async with privacy_deps(bus, None, environ) as deps:
        record = await erase_user(deps, ALICE, "operator-ana")
    assert record.removed["audit"] and record.removed["agent"] and record.removed["calendar"]
    needles = [ALICE, ALICE.lstrip("+"), alice, ALICE_WORD, ALICE_VOICE_WORD]
    assert await scan_streams(bus, needles) == [] and await scan_tables(database_url, needles) == []
    assert await scan_tables(database_url, [BOB_WORD])
