"""A user's own requests over WhatsApp, through the whole stack and the privacy worker:
"borrá mis datos" asks for a confirmation and "sí" erases; "what do you have about me"
makes an export the operator is told about, and nothing of it is sent in the chat."""

from __future__ import annotations

import asyncio

from shared.eventlog_jetstream import JetStreamEventLog
from shared.ids import conversation_id
from shared.logging import configure_logging
from switchboard.privacy.erasure import erasure_records
from switchboard.privacy.session import privacy_deps
from switchboard.privacy.worker import serve_requests
from tests.integration.test_agent_memory import BUSINESS, wait_until
from tests.integration.test_privacy_erase import ALICE, ALICE_WORD, BOB, BOB_WORD, alice_and_bob
from tests.privacy_rig import privacy_stack, scan_streams, scan_tables, settled


async def test_a_user_erases_their_data_by_asking_and_confirming(bus, database_url, tmp_path):
    alice = conversation_id(BUSINESS, ALICE)
    stop = asyncio.Event()
    async with privacy_stack(bus, database_url) as stack, \
            privacy_deps(bus, database_url, {"DATABASE_URL": database_url}) as deps:
        worker = asyncio.create_task(serve_requests(bus, deps, tmp_path / "exports", stop, ack_wait_s=30))
        try:
            await alice_and_bob(stack)
            assert "SÍ para confirmar" in await stack.chat(ALICE, "borrá mis datos por favor")
            assert await erasure_records(JetStreamEventLog(bus)) == []  # nothing happens before she confirms
            assert (await stack.chat(ALICE, "sí")).startswith("Listo: estoy borrando")

            async def erased() -> bool:
                return [r["state"] for r in await erasure_records(JetStreamEventLog(bus))] == ["completed"]

            await wait_until(erased, timeout=60)
            [record] = await erasure_records(JetStreamEventLog(bus))
            assert record["requested_by"] == "user"
            await settled(bus, database_url, (conversation_id(BUSINESS, BOB),))
            assert await scan_streams(bus, [ALICE_WORD, "borrá mis datos"]) == []
            assert await scan_tables(database_url, [ALICE_WORD, "borrá mis datos"]) == []
            assert await scan_streams(bus, [BOB_WORD])
            # What she writes next is a new conversation, and it is answered.
            assert await stack.chat(ALICE, "hola")
            assert alice  # her conversation id is in use again, for the fresh conversation
        finally:
            stop.set()
            await worker


async def test_an_export_request_is_written_for_the_operator_and_not_sent_in_the_chat(bus, database_url, tmp_path,
                                                                                       capfd):
    configure_logging("privacy-test", "info", "json")
    stop = asyncio.Event()
    exports = tmp_path / "exports"
    async with privacy_stack(bus, database_url) as stack, \
            privacy_deps(bus, database_url, {"DATABASE_URL": database_url}) as deps:
        worker = asyncio.create_task(serve_requests(bus, deps, exports, stop, ack_wait_s=30))
        try:
            await alice_and_bob(stack)
            answer = await stack.chat(ALICE, "What data do you have about me?")
            assert "operator" in answer and ALICE_WORD not in answer.lower()
            await wait_until(lambda: exports.is_dir() and any(exports.iterdir()), timeout=60)
        finally:
            stop.set()
            await worker
    [path] = exports.iterdir()
    assert ALICE_WORD in path.read_text().lower() and BOB_WORD not in path.read_text().lower()
    assert all(ALICE_WORD not in m["body"].lower() for m in stack.twilio.sent_to(ALICE)[-1:])
    logs = capfd.readouterr()
    assert "export_ready_for_operator" in logs.out + logs.err and path.name in logs.out + logs.err
