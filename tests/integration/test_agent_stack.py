"""The whole pipeline in one event loop, with the offline model and no keys: a signed
webhook from the Twilio emulator, the gateway, the transcriber (a voice note through the
OpenAI-compatible fake), the agent, the calendar service and outbound, back to the
emulator. Every piece is the real service code on real NATS and Postgres."""

from __future__ import annotations

import asyncio
import functools
import socket
from typing import Awaitable, Callable

import asyncpg
import uvicorn

from services.audit.service import run_audit
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.outbound.handler import Outbound, RetryPolicy, deliver_reply
from services.outbound.ledger import SentLedger
from services.outbound.pacing import SenderPacer
from services.outbound.twilio_api import TwilioMessages
from services.transcriber.download import DownloadLimits, MediaDownloader
from services.transcriber.engines.openai_api import OpenAITranscriber
from services.transcriber.handler import Transcriber, transcribe_message
from services.transcriber.media_policy import TWILIO_MEDIA_HOSTS, MediaPolicy
from services.transcriber.transcription import VoicePipeline
from shared.batch import BatchPolicy
from shared.bus import Bus
from shared.consumer import PartitionedConsumer
from shared.eventlog_jetstream import JetStreamEventLog
from switchboard.sandbox.server import TwilioEmulator
from tests.fakes.calendar_rig import calendar_rig
from tests.fakes.openai_transcription import FakeOpenAITranscription
from tests.integration.test_agent_memory import BUSINESS, FAST, OWNER_A, agent_settings, running_agent, wait_until
from tests.waiting import scaled

SID, TOKEN = "AC" + "3" * 32, "sandbox-token-for-agent-tests"
VOICE_NOTE = b"OggS" + bytes(range(256)) * 4
AUDIT = BatchPolicy(batch_size=64, fetch_timeout_s=0.2, ack_wait_s=5.0, backoff_s=(0.05,), isolate_after=3)


async def serve_gateway(bus, stop: asyncio.Event) -> tuple[str, asyncio.Task]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(
        create_app(GatewaySettings(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=base), bus=bus),
        log_level="warning", access_log=False,
    ))

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        await stop.wait()
        server.should_exit = True
        await task

    task = asyncio.create_task(run())
    while not server.started:
        await asyncio.sleep(0.01)
    return f"{base}/twilio/messages", task


async def test_the_offline_model_answers_through_the_whole_stack(database_url, bus):
    async def the_bus(identity: str) -> Bus:
        return bus

    await talk_through_the_stack(database_url, the_bus)


async def test_the_whole_stack_works_with_each_service_on_its_own_nats_identity(database_url, authorized_nats):
    """Every service connects as its own user, with only the permissions shared.nats_permissions gives it."""
    await talk_through_the_stack(database_url, authorized_nats.bus_as)
    assert not [error for errors in authorized_nats.errors.values() for error in errors], authorized_nats.errors
    admin = await authorized_nats.bus_as("admin")
    stored = (await admin.js.stream_info(admin.stream)).state.messages
    audited = await wait_until_audited(database_url, stored)
    assert audited == stored


async def wait_until_audited(database_url: str, count: int) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        audited = 0
        for _ in range(int(scaled(300))):
            audited = await conn.fetchval("select count(*) from audit.events")
            if audited >= count:
                break
            await asyncio.sleep(0.1)
        return audited
    finally:
        await conn.close()


async def talk_through_the_stack(database_url: str, bus_for: Callable[[str], Awaitable[Bus]]) -> None:
    """A conversation through every service; `bus_for(service)` is the connection that service uses."""
    stop = asyncio.Event()
    bus = await bus_for("transcriber")
    webhook, gateway = await serve_gateway(await bus_for("gateway"), stop)
    agent_bus, outbound_bus = await bus_for("agent"), await bus_for("outbound")
    with FakeOpenAITranscription() as speech:
        speech.respond(VOICE_NOTE, "What do I have tomorrow?")
        async with TwilioEmulator(SID, TOKEN, webhook_url=webhook, status_delay_s=0.01) as twilio, \
                calendar_rig(await bus_for("calendar"), database_url), \
                running_agent(agent_bus, agent_settings(database_url, agent_bus)):
            downloader = MediaDownloader(
                MediaPolicy.from_patterns(TWILIO_MEDIA_HOSTS, twilio.url), (SID, TOKEN),
                DownloadLimits(connect_timeout_s=2, read_timeout_s=2, total_timeout_s=10, attempts=2, retry_base_s=0.02),
            )
            # Started once the calendar and agent have migrated: Alembic runs one migration at a time per process.
            auditing = asyncio.create_task(run_audit(await bus_for("audit"), database_url, stop, AUDIT))
            voice = VoicePipeline(downloader, OpenAITranscriber(speech.api_key, base_url=speech.base_url, max_retries=0))
            sender = TwilioMessages(SID, TOKEN, twilio.url, timeout_s=5)
            outbound = Outbound(events=JetStreamEventLog(outbound_bus), twilio=sender,
                                ledger=await SentLedger.open(JetStreamEventLog(outbound_bus)), pacer=SenderPacer(0),
                                status_callback=None, retry=RetryPolicy(3, base_s=0.02), max_deliver=FAST.max_deliver)
            stages = [
                PartitionedConsumer(bus, "transcriber", "received", functools.partial(
                    transcribe_message, deps=Transcriber(JetStreamEventLog(bus), voice, FAST.max_deliver)), FAST),
                PartitionedConsumer(outbound_bus, "outbound", "reply", functools.partial(deliver_reply, deps=outbound),
                                    FAST),
            ]
            tasks = [asyncio.create_task(stage.run(stop)) for stage in stages]
            try:
                async def chat(body: str = "", media=()) -> str:
                    before = len(twilio.sent_to(OWNER_A))
                    status, _ = await twilio.send_inbound(OWNER_A, BUSINESS, body, list(media))
                    assert status == 200
                    await wait_until(lambda: len(twilio.sent_to(OWNER_A)) > before, timeout=30)
                    return twilio.sent_to(OWNER_A)[-1]["body"]

                created = await chat("Schedule lunch with Ana tomorrow at 1")
                assert created.startswith("Done: “Lunch with Ana” is in your calendar") and "13:00–14:00" in created
                listed = await chat(media=[(VOICE_NOTE, "audio/ogg")])  # "What do I have tomorrow?"
                assert "Here's what you have tomorrow" in listed and "13:00–14:00: Lunch with Ana" in listed
                moved = await chat("move it to 2")
                assert moved.startswith("Moved: “Lunch with Ana” is now") and "14:00–15:00" in moved
                assert await chat("Cancel lunch with Ana") == "Cancelled “Lunch with Ana”."
                assert await chat("what do I have tomorrow?") == "You have nothing in your calendar tomorrow."
                assert "I can only help with your calendar" in await chat("Who won the 1998 World Cup?")
                assert all(m["from"] == f"whatsapp:{BUSINESS}" for m in twilio.sent_to(OWNER_A))
            finally:
                stop.set()
                await asyncio.gather(*tasks)
                await sender.close()
                await downloader.close()
    await gateway
    await auditing
