"""Reminders sent by real outbound processes: killed (-9) before a reminder is due, and three
replicas sharing 500 reminders due in the same minute. Each reminder reaches the user once."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

from nats.js.errors import NotFoundError

from services.reminders.timers import DUE, STREAM
from services.reminders.worker import DISPATCH_CONSUMER
from switchboard.infra import free_port
from switchboard.sandbox.server import TwilioEmulator
from tests.reminders_rig import SID, TOKEN, open_book, reminder, user_wrote
from tests.waiting import eventually, scaled


def start_outbound(nats_url: str, emulator_url: str, health_port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "NATS_URL": nats_url, "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE_URL": emulator_url, "HEALTH_PORT": str(health_port), "LOG_LEVEL": "warning",
        "ACK_WAIT_S": "5",
    }
    return subprocess.Popen([sys.executable, "-m", "services.outbound"], env=env)


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(scaled(30))


async def pulling(bus, replicas: int) -> bool:
    """At least `replicas` pull requests wait on the dispatcher: that many senders are ready."""
    try:
        info = await bus.js.consumer_info(STREAM, DISPATCH_CONSUMER)
    except NotFoundError:
        return False
    return (info.num_waiting or 0) >= replicas


async def idle(bus) -> bool:
    info = await bus.js.consumer_info(STREAM, DISPATCH_CONSUMER)
    return info.num_ack_pending == 0 and info.num_pending == 0


def sent_by(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("switchboard_reminders_total{") and 'outcome="sent"' in line)


async def test_sender_killed_before_the_reminder_is_due_sends_it_once_after_restart(bus, nats_server):
    user = "+34600200001"
    await user_wrote(bus, user)
    book = await open_book(bus)
    async with TwilioEmulator(SID, TOKEN, status_delay_s=0.01) as emulator:
        first = start_outbound(nats_server.url, emulator.url, free_port())
        try:
            await eventually(lambda: pulling(bus, 1), 60, "the sender ready")
            item = reminder(user, "take the medicine", datetime.now(UTC) + timedelta(seconds=3))
            await book.schedule(item)
            first.send_signal(signal.SIGKILL)  # no drain, no cleanup
            first.wait(scaled(10))
            killed_at = datetime.now(UTC)
        finally:
            if first.poll() is None:
                first.kill()
        assert first.returncode == -signal.SIGKILL and killed_at < item.due_at  # the fault fired before due

        async def fired_while_down() -> bool:
            try:
                await bus.js.get_last_msg(STREAM, f"{DUE}.{item.conversation}.{item.reminder_id}")
            except NotFoundError:
                return False
            return True

        await eventually(fired_while_down, 30, "the timer to fire with no sender running")
        assert emulator.sent_to(user) == []

        second = start_outbound(nats_server.url, emulator.url, free_port())
        try:
            await eventually(lambda: _status(book, item, "sent"), 60, "the reminder sent after the restart")
            await eventually(lambda: idle(bus), 30, "the dispatcher idle")
        finally:
            assert stop(second) == 0
    assert [m["body"] for m in emulator.sent_to(user)] == ["⏰ Reminder: take the medicine"]


async def test_three_replicas_send_500_reminders_due_in_one_minute_each_once(bus, nats_server):
    users = [f"+346003{n:05d}" for n in range(50)]
    for user in users:
        await user_wrote(bus, user)
    book = await open_book(bus)
    async with TwilioEmulator(SID, TOKEN, status_delay_s=0.01) as emulator:
        ports = [free_port() for _ in range(3)]
        replicas = [start_outbound(nats_server.url, emulator.url, port) for port in ports]
        try:
            await eventually(lambda: pulling(bus, 3), 90, "three senders ready")
            base = datetime.now(UTC) + timedelta(seconds=scaled(20))
            items = [reminder(users[n % 50], f"reminder {n}", base + timedelta(milliseconds=20 * n)) for n in range(500)]
            await asyncio.gather(*(book.schedule(item) for item in items))
            assert datetime.now(UTC) < base  # all set before the first is due

            await eventually(lambda: _count_at_least(emulator, 500), 120, "500 reminders at the emulator")
            await eventually(lambda: idle(bus), 60, "the dispatchers idle")
            per_replica = [sent_by(port) for port in ports]
        finally:
            codes = [stop(process) for process in replicas]
        bodies = collections.Counter(m["body"] for m in emulator.state.messages)
    assert codes == [0, 0, 0]
    assert len(emulator.state.messages) == 500
    assert bodies == collections.Counter(f"⏰ Reminder: reminder {n}" for n in range(500))  # each exactly once
    assert sum(per_replica) == 500 and sum(1 for count in per_replica if count) >= 2, per_replica


async def _count_at_least(emulator: TwilioEmulator, count: int) -> bool:
    return len(emulator.state.messages) >= count


async def _status(book, item, status: str) -> bool:
    current = await book.get(item.conversation, item.reminder_id)
    return current is not None and current.status == status
