"""The front door and the record together: gateway → stream → audit, and replies out and back.

Everything is real: the gateway on a loopback port, the Twilio emulator posting signed
webhooks and status callbacks to it, the outbound worker sending through the `twilio`
library, and the audit worker writing Postgres.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time

import asyncpg
import httpx
import pytest
import uvicorn

from services.audit.service import run_audit
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.outbound.handler import Outbound, RetryPolicy, deliver_reply
from services.outbound.ledger import SentLedger
from services.outbound.pacing import SenderPacer
from services.outbound.twilio_api import TwilioMessages
from shared.batch import BatchPolicy
from shared.consumer import AckPolicy, PartitionedConsumer
from shared.eventlog_jetstream import JetStreamEventLog
from shared.events import ReplyComposed, ReplyComposedData
from shared.ids import conversation_id
from switchboard.sandbox.server import TwilioEmulator
from tests.twilio_forms import inbound_form, signed, status_form
from tests.waiting import scaled

SID, TOKEN = "AC" + "5" * 32, "pipeline-token"
USER, BUSINESS = "+34600555666", "+14155238886"
AUDIT = BatchPolicy(batch_size=64, fetch_timeout_s=0.2, ack_wait_s=5.0, backoff_s=(0.05,), isolate_after=3)


async def eventually(query, database_url: str, expected, timeout: float = 20.0):
    deadline = time.monotonic() + scaled(timeout)
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            try:
                got = await query(conn)
            except asyncpg.UndefinedTableError:
                got = None
            if got == expected or time.monotonic() > deadline:
                return got
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


@pytest.fixture
async def stack(bus, database_url):
    """Gateway on a real port, the audit worker, the emulator pointed at the gateway."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    app = create_app(GatewaySettings(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=base), bus=bus)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    stop = asyncio.Event()
    auditing = asyncio.create_task(run_audit(bus, database_url, stop, AUDIT))
    emulator = await TwilioEmulator(SID, TOKEN, webhook_url=f"{base}/twilio/messages", status_delay_s=0.02).start()
    yield {"base": base, "emulator": emulator, "stop": stop}
    stop.set()
    await emulator.stop()
    await auditing
    server.should_exit = True
    await serving


async def start_outbound(bus, stack, status_callback: str | None):
    """An in-process outbound worker sending to the stack's emulator; stopped with the stack."""
    twilio = TwilioMessages(SID, TOKEN, stack["emulator"].url)
    deps = Outbound(
        events=JetStreamEventLog(bus), twilio=twilio, ledger=await SentLedger.open(JetStreamEventLog(bus)), pacer=SenderPacer(0),
        status_callback=status_callback, retry=RetryPolicy(3, 0.02), max_deliver=3,
    )
    policy = AckPolicy(max_deliver=3, backoff_s=(0.05,), ack_wait_s=5, fetch_timeout_s=0.3)
    consumer = PartitionedConsumer(bus, "outbound", "reply", functools.partial(deliver_reply, deps=deps), policy)
    return twilio, asyncio.create_task(consumer.run(stack["stop"]))


async def test_a_webhook_posted_three_times_is_one_event_and_one_row_each(bus, database_url, stack):
    form = inbound_form("see you at nine", user=f"whatsapp:{USER}")
    body, headers = signed(TOKEN, f"{stack['base']}/twilio/messages", form)
    async with httpx.AsyncClient(base_url=stack["base"]) as client:
        for _ in range(3):
            response = await client.post("/twilio/messages", content=body, headers=headers)
            assert response.status_code == 200
    info = await bus.js.stream_info(bus.stream)
    assert info.state.messages == 1
    sid = form["MessageSid"]
    rows = await eventually(
        lambda c: c.fetch("select direction, body, status from audit.messages where message_sid = $1", sid),
        database_url, [("inbound", "see you at nine", "received")],
    )
    assert [tuple(r) for r in rows] == [("inbound", "see you at nine", "received")]
    await asyncio.sleep(0.5)  # give a duplicate every chance to show up
    events = await eventually(lambda c: c.fetchval("select count(*) from audit.events"), database_url, 1)
    assert events == 1


async def test_status_callbacks_out_of_order_leave_the_message_read(bus, database_url, stack):
    async with httpx.AsyncClient(base_url=stack["base"]) as client:
        for status in ("read", "delivered", "sent"):
            body, headers = signed(TOKEN, f"{stack['base']}/twilio/status", status_form("SMlate", status, user=f"whatsapp:{USER}", business=f"whatsapp:{BUSINESS}"))
            assert (await client.post("/twilio/status", content=body, headers=headers)).status_code == 200
    await eventually(lambda c: c.fetchval("select count(*) from audit.events"), database_url, 3)
    status = await eventually(
        lambda c: c.fetchval("select status from audit.messages where message_sid = 'SMlate'"), database_url, "read"
    )
    assert status == "read"


async def test_a_reply_goes_out_and_its_status_callbacks_flow_back_into_audit(bus, database_url, stack):
    emulator = stack["emulator"]
    twilio, outbound = await start_outbound(bus, stack, f"{stack['base']}/twilio/status")
    try:
        reply = ReplyComposed(
            conversation=conversation_id(BUSINESS, USER),
            data=ReplyComposedData(reply_id="r-1", in_reply_to=("SM1",), from_=BUSINESS, to=USER, text="Booked: lunch at 13:00", model="test"),
        )
        await bus.publish(reply, msg_id="reply:r-1")
        status = await eventually(
            lambda c: c.fetchval("select status from audit.messages where direction = 'outbound'"), database_url, "read"
        )
        assert status == "read"
        (sent,) = emulator.sent_to(USER)
        row = await eventually(
            lambda c: c.fetchrow("select message_sid, body, reply_id from audit.messages where direction = 'outbound'"),
            database_url, None, timeout=0,
        )
        assert tuple(row) == (sent["sid"], "Booked: lunch at 13:00", "r-1")
        statuses = await eventually(
            lambda c: c.fetch("select payload->'data'->>'status' from audit.events where type = 'DeliveryStatusChanged' order by stream_seq"),
            database_url, None, timeout=0,
        )
        assert [s[0] for s in statuses] == ["sent", "delivered", "read"]
    finally:
        stack["stop"].set()
        await outbound
        await twilio.close()


async def test_a_permanent_send_failure_is_recorded_in_audit(bus, database_url, stack):
    emulator = stack["emulator"]
    emulator.inject("63016", count=1)
    twilio, outbound = await start_outbound(bus, stack, None)
    try:
        reply = ReplyComposed(
            conversation=conversation_id(BUSINESS, USER),
            data=ReplyComposedData(reply_id="r-late", in_reply_to=("SM2",), from_=BUSINESS, to=USER, text="Too late?", model="test"),
        )
        await bus.publish(reply, msg_id="reply:r-late")
        row = await eventually(
            lambda c: c.fetchrow(
                "select payload->'data'->>'error_code', payload->'data'->>'permanent' from audit.events where type = 'SendFailed'"
            ),
            database_url, ("63016", "true"),
        )
        assert row is not None and tuple(row) == ("63016", "true")
        assert emulator.state.requests_seen == 1  # not retried
        assert emulator.sent_to(USER) == []
    finally:
        stack["stop"].set()
        await outbound
        await twilio.close()
