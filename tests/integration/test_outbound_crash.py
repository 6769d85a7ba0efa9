"""Outbound really killed after part 1 of 3: the restart sends parts 2 and 3, never part 1 again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request

from shared.events import MessageSent, ReplyComposed, ReplyComposedData, decode
from shared.ids import conversation_id
from switchboard.infra import free_port
from switchboard.sandbox.server import TwilioEmulator
from tests.waiting import scaled

SID, TOKEN = "AC" + "4" * 32, "crash-test-token"
USER, BUSINESS = "+34600999000", "+14155238886"


def start_outbound(nats_url: str, emulator_url: str, health_port: int | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "NATS_URL": nats_url, "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE_URL": emulator_url, "OUTBOUND_RATE_PER_S": "0.5",  # a part every 2 s
        "HEALTH_PORT": str(health_port or free_port()), "LOG_LEVEL": "warning", "ACK_WAIT_S": "5",
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



def metric_value(port: int, name: str, labels: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(f"{name}{{") and labels in line)


async def test_killed_while_twilio_holds_the_request_the_part_is_resent_and_counted(bus, nats_server):
    """The one window left (docs/operations.md): the process dies after handing a part to
    Twilio and before recording Twilio's answer. The part is sent again (at least once, never
    lost), and the resend is counted as `resent_unknown`, so the window is measured."""
    event = ReplyComposed(
        conversation=conversation_id(BUSINESS, USER),
        data=ReplyComposedData(reply_id="reply-crash-2", in_reply_to=("SM2",), from_=BUSINESS, to=USER,
                               text="sent in the window", model="test"),
    )
    async with TwilioEmulator(SID, TOKEN) as emulator:
        emulator.inject("latency", count=1, latency_ms=1500)
        first = start_outbound(nats_server.url, emulator.url)
        try:
            await bus.publish(event, msg_id="reply:crash-2")

            async def twilio_has_it() -> bool:
                return emulator.state.requests_seen >= 1

            await wait_for(twilio_has_it, timeout=30)
            first.send_signal(signal.SIGKILL)  # in the window: the request is in Twilio's hands
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        assert await sent_parts(bus) == []  # the fault fired: nothing was recorded as sent

        port = free_port()
        second = start_outbound(nats_server.url, emulator.url, port)
        try:
            async def recorded() -> bool:
                return await sent_parts(bus) == [1]

            await wait_for(recorded, timeout=60)  # the unacknowledged reply comes back after ack_wait
            resent = metric_value(port, "switchboard_outbound_sends_total", 'outcome="resent_unknown"')
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0
        bodies = [m["body"] for m in emulator.sent_to(USER)]
    assert resent == 1  # measured: the part's outcome was unknown and it was sent again
    # Whether the user got it twice depends on whether Twilio finished accepting the first
    # request: the emulator drops a request whose client hung up during its latency (1 copy);
    # real Twilio may have accepted it (2 copies). Either way nothing is lost.
    assert bodies[-1] == "sent in the window" and len(bodies) in (1, 2)
