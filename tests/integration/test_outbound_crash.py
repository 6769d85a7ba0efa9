"""Outbound really killed after part 1 of 3: the restart sends parts 2 and 3, never part 1 again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from shared.events import MessageSent, ReplyComposed, ReplyComposedData, decode
from shared.ids import conversation_id
from switchboard.infra import free_port
from switchboard.sandbox.server import TwilioEmulator
from tests.waiting import scaled

SID, TOKEN = "AC" + "4" * 32, "crash-test-token"
USER, BUSINESS = "+34600999000", "+14155238886"


def start_outbound(nats_url: str, emulator_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "NATS_URL": nats_url, "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE_URL": emulator_url, "OUTBOUND_RATE_PER_S": "0.5",  # a part every 2 s
        "HEALTH_PORT": str(free_port()), "LOG_LEVEL": "warning", "ACK_WAIT_S": "5",
    }
    return subprocess.Popen([sys.executable, "-m", "services.outbound"], env=env)


async def sent_parts(bus) -> list[int]:
    info = await bus.js.stream_info(bus.stream)
    events = [decode((await bus.js.get_msg(bus.stream, s)).data) for s in range(1, info.state.last_seq + 1)]
    return [e.data.part for e in events if isinstance(e, MessageSent)]


async def wait_for(check, timeout: float) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_killed_after_part_one_resumes_without_resending_it(bus, nats_server):
    paragraphs = [f"Paragraph {n}. " + ("lorem ipsum " * 110).strip() for n in (1, 2, 3)]
    event = ReplyComposed(
        conversation=conversation_id(BUSINESS, USER),
        data=ReplyComposedData(
            reply_id="reply-crash-1", in_reply_to=("SM1",), from_=BUSINESS, to=USER,
            text="\n\n".join(paragraphs), model="test",
        ),
    )
    async with TwilioEmulator(SID, TOKEN) as emulator:
        # The hook: Twilio accepts part 1 and leaves every later request unanswered, so the
        # process is stopped after part 1 however slow the machine is (no race with pacing).
        emulator.hold_after(1)
        first = start_outbound(nats_server.url, emulator.url)
        try:
            await bus.publish(event, msg_id="reply:crash")

            async def stopped_after_part_one() -> bool:
                return emulator.state.held >= 1 and await sent_parts(bus) == [1]

            await wait_for(stopped_after_part_one, timeout=30)
            first.send_signal(signal.SIGKILL)  # no cleanup, no ack: the process is gone
            first.wait(scaled(10))
        finally:
            if first.poll() is None:
                first.kill()
        assert len(emulator.sent_to(USER)) == 1 and emulator.state.held >= 1  # the hook fired
        emulator.release()

        second = start_outbound(nats_server.url, emulator.url)
        try:
            async def all_parts_recorded() -> bool:
                return sorted(await sent_parts(bus)) == [1, 2, 3]

            # The unacknowledged reply comes back after ack_wait.
            await wait_for(all_parts_recorded, timeout=60)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(scaled(20)) == 0
        bodies = [m["body"] for m in emulator.sent_to(USER)]
    assert bodies == paragraphs
