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


async def test_killed_while_twilio_holds_the_request_the_part_goes_out_once(bus, nats_server):
    """The process dies after handing a part to Twilio and before Twilio answered (here
    Twilio is slow to *accept*). On restart the part's outcome is unknown (`sending`):
    outbound asks Twilio's Messages list. Whether or not Twilio had taken the first request
    (the emulator may drop a request whose client hung up, real Twilio may not), the user
    gets the part exactly once, and the check is counted."""
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
            reconciled = metric_value(port, "switchboard_outbound_sends_total", 'outcome="reconciled"')
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0
        bodies = [m["body"] for m in emulator.sent_to(USER)]
    assert resent + reconciled == 1  # the part's outcome was unknown, and was checked
    assert bodies == ["sent in the window"]


async def test_killed_after_twilio_accepted_but_before_its_answer_the_part_is_not_sent_again(bus, nats_server):
    """The window of guarantee 4: Twilio accepted the part, the process was killed before the
    answer came back, so nothing recorded the SID. On restart outbound finds the message in
    Twilio's Messages list, records its SID and publishes MessageSent: no second copy."""
    event = ReplyComposed(
        conversation=conversation_id(BUSINESS, USER),
        data=ReplyComposedData(reply_id="reply-crash-3", in_reply_to=("SM3",), from_=BUSINESS, to=USER,
                               text="accepted, answer lost", model="test"),
    )
    async with TwilioEmulator(SID, TOKEN) as emulator:
        emulator.inject("slow_answer", count=1, latency_ms=30_000)  # accepted at once, answered much later
        first = start_outbound(nats_server.url, emulator.url)
        try:
            await bus.publish(event, msg_id="reply:crash-3")

            async def twilio_accepted_it() -> bool:
                return len(emulator.sent_to(USER)) == 1

            await wait_for(twilio_accepted_it, timeout=30)
            first.send_signal(signal.SIGKILL)  # Twilio has it; the process never learns its SID
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        assert await sent_parts(bus) == []  # the fault fired: accepted, not recorded
        [accepted] = emulator.sent_to(USER)

        port = free_port()
        second = start_outbound(nats_server.url, emulator.url, port)
        try:
            async def recorded() -> bool:
                return await sent_parts(bus) == [1]

            await wait_for(recorded, timeout=60)
            reconciled = metric_value(port, "switchboard_outbound_sends_total", 'outcome="reconciled"')
            resent = metric_value(port, "switchboard_outbound_sends_total", 'outcome="resent_unknown"')
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0
        sent_events = [e for e in await _events(bus) if isinstance(e, MessageSent)]
        bodies = [m["body"] for m in emulator.sent_to(USER)]
    assert (reconciled, resent) == (1, 0)
    assert bodies == ["accepted, answer lost"]  # exactly once
    assert [e.data.twilio_sid for e in sent_events] == [accepted["sid"]]  # audit has the copy the user got


async def _events(bus) -> list:
    info = await bus.js.stream_info(bus.stream)
    return [decode((await bus.js.get_msg(bus.stream, s)).data) for s in range(1, info.state.last_seq + 1)]
