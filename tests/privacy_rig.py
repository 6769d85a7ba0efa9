"""The whole stack in one event loop for the privacy tests, and a scan of every store.

`privacy_stack` runs the gateway, the Twilio emulator, the transcriber (voice through the
OpenAI-compatible fake), the agent with the offline model, the calendar service, outbound
and audit, all the real service code on the test's nats-server and database.
`scan_everything` reads every message of every stream on the server (the event stream
and every key-value bucket, markers included), every row of every table in every
schema, and the captured logs, and says where each needle was found.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass
from typing import AsyncIterator, Iterable

import asyncpg
from nats.js.errors import NotFoundError

from services.audit.service import run_audit
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
from tests.integration.test_agent_memory import BUSINESS, FAST, agent_settings, running_agent, wait_until
from tests.integration.test_agent_stack import SID, TOKEN, serve_gateway

AUDIT = BatchPolicy(batch_size=64, fetch_timeout_s=0.2, ack_wait_s=5.0, backoff_s=(0.05,), isolate_after=3)


@dataclass
class Stack:
    twilio: TwilioEmulator
    speech: FakeOpenAITranscription

    async def chat(self, user: str, body: str = "", media: Iterable[tuple[bytes, str]] = ()) -> str:
        before = len(self.twilio.sent_to(user))
        status, _ = await self.twilio.send_inbound(user, BUSINESS, body, list(media))
        assert status == 200
        await wait_until(lambda: len(self.twilio.sent_to(user)) > before, timeout=30)
        return str(self.twilio.sent_to(user)[-1]["body"])


@contextlib.asynccontextmanager
async def privacy_stack(bus: Bus, database_url: str, urls: dict[str, str] | None = None) -> AsyncIterator[Stack]:
    """`urls`: each service's own database URL (its role), instead of `database_url` for all."""
    own = urls or {}
    stop = asyncio.Event()
    webhook, gateway = await serve_gateway(bus, stop)
    with FakeOpenAITranscription() as speech:
        async with TwilioEmulator(SID, TOKEN, webhook_url=webhook, status_delay_s=0.01) as twilio, \
                calendar_rig(bus, own.get("calendar", database_url)), \
                running_agent(bus, agent_settings(own.get("agent", database_url), bus)):
            downloader = MediaDownloader(
                MediaPolicy.from_patterns(TWILIO_MEDIA_HOSTS, twilio.url), (SID, TOKEN),
                DownloadLimits(connect_timeout_s=2, read_timeout_s=2, total_timeout_s=10, attempts=2, retry_base_s=0.02),
            )
            voice = VoicePipeline(downloader, OpenAITranscriber(speech.api_key, base_url=speech.base_url, max_retries=0))
            sender = TwilioMessages(SID, TOKEN, twilio.url, timeout_s=5)
            events = JetStreamEventLog(bus)
            outbound = Outbound(events=events, twilio=sender, ledger=await SentLedger.open(events), pacer=SenderPacer(0),
                                status_callback=None, retry=RetryPolicy(3, base_s=0.02), max_deliver=FAST.max_deliver)
            stages = [
                PartitionedConsumer(bus, "transcriber", "received", functools.partial(
                    transcribe_message, deps=Transcriber(events, voice, FAST.max_deliver)), FAST),
                PartitionedConsumer(bus, "outbound", "reply", functools.partial(deliver_reply, deps=outbound), FAST),
            ]
            tasks = [asyncio.create_task(stage.run(stop)) for stage in stages]
            tasks.append(asyncio.create_task(run_audit(bus, own.get("audit", database_url), stop, AUDIT)))
            try:
                yield Stack(twilio, speech)
            finally:
                stop.set()
                await asyncio.gather(*tasks)
                await sender.close()
                await downloader.close()
    await gateway


async def audited(database_url: str, conversation: str) -> int:
    """How many of a conversation's events audit has recorded."""
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM audit.events WHERE conversation = $1", conversation) or 0)
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


async def settled(bus: Bus, database_url: str, conversations: Iterable[str]) -> None:
    """Wait until audit has recorded every event of these conversations that the stream holds."""
    events = JetStreamEventLog(bus)

    async def in_stream(conversation: str) -> int:
        count, seq = 0, 0
        while (message := await events.next_for_subject(f"wa.*.*.{conversation}", seq)) is not None:
            count, seq = count + 1, message.seq
        return count

    async def done() -> bool:
        return all([await in_stream(c) == await audited(database_url, c) for c in conversations])

    await wait_until(done, timeout=30)


async def scan_streams(bus: Bus, needles: Iterable[str]) -> list[str]:
    """Where each needle occurs in any message (subject, headers, data) of any stream."""
    found, wanted = [], [n.lower() for n in needles]
    async for name in _stream_names(bus):
        info = await bus.js.stream_info(name)
        for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
            try:
                msg = await bus.js.get_msg(name, seq)
            except NotFoundError:
                continue
            except Exception as exc:
                raise AssertionError(f"{name} {seq} {info.state}: {exc}") from exc
            text = f"{msg.subject} {msg.headers} {(msg.data or b'').decode(errors='replace')}".lower()
            found += [f"stream {name} seq {seq}: {n}" for n in wanted if n in text]
    return found


async def _stream_names(bus: Bus) -> AsyncIterator[str]:
    for info in await bus.js.streams_info():
        yield info.config.name


async def scan_tables(database_url: str, needles: Iterable[str],
                      schemas: Iterable[str] = ("audit", "agent", "calendar")) -> list[str]:
    """Where each needle occurs in any row of any table of any schema (the system's excepted)."""
    found, wanted = [], [n.lower() for n in needles]
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch("SELECT table_schema, table_name FROM information_schema.tables WHERE "
                                  "table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')")
        assert {t["table_schema"] for t in tables} >= set(schemas), "a service's schema is missing from the scan"
        for table in tables:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{table["table_schema"]}"."{table["table_name"]}" t')
            for row in rows:
                text = _readable(row["row"]).lower()
                found += [f"table {table['table_schema']}.{table['table_name']}: {n}" for n in wanted if n in text]
    finally:
        await conn.close()
    return found


def _readable(text: str) -> str:
    """A row's text, with bytea columns (checkpoint blobs: msgpack) turned back into their characters."""
    import re

    def unhex(match: re.Match[str]) -> str:
        return bytes.fromhex(match.group(1)).decode("latin-1")

    return text + " " + re.sub(r"\\+x([0-9a-f]{2,})", unhex, text)


def scan_text(name: str, text: str, needles: Iterable[str]) -> list[str]:
    lowered = text.lower()
    return [f"{name}: {n}" for n in needles if n.lower() in lowered]


__all__ = ["Stack", "privacy_stack", "scan_streams", "scan_tables", "scan_text", "settled"]
