"""Reminder timers on a three-node JetStream cluster: the timer stream's leader killed before
the timers are due, every timer still fires exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from services.reminders.timers import DUE, STREAM, Timers, ensure_timer_stream, parse_due
from shared.bus import connect
from switchboard.cluster import NatsCluster
from tests.waiting import eventually, scaled

pytestmark = pytest.mark.timeout(300)


async def test_timers_fire_once_after_the_stream_leader_is_killed(nats_cluster: NatsCluster):
    nc = await connect(nats_cluster.url, "timer-cluster-test", wait=False)
    try:
        js = nc.jetstream(timeout=5)
        await ensure_timer_stream(js, replicas=3)
        info = await js.stream_info(STREAM)
        assert info.config.num_replicas == 3
        subscription = await js.pull_subscribe(f"{DUE}.>", durable="reader", stream=STREAM,
                                               config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT))
        timers = Timers(js)
        due = datetime.now(UTC) + timedelta(seconds=scaled(8))
        for n in range(20):
            await timers.set("cabc", f"r{n}", 1, due + timedelta(milliseconds=100 * n))
        assert not await _no_schedules_left(js)  # the check below sees schedules when there are some
        leader = info.cluster.leader
        await asyncio.to_thread(nats_cluster.kill, leader)
        assert datetime.now(UTC) < due  # the fault fired before any timer was due

        fired: list[str] = []
        deadline = asyncio.get_running_loop().time() + scaled(90)
        while len(fired) < 20 and asyncio.get_running_loop().time() < deadline:
            try:
                batch = await subscription.fetch(20, timeout=2)
            except Exception:  # a timeout, or the consumer's leader moving: fetch again
                continue
            for msg in batch:
                fired.append(parse_due(msg.subject, dict(msg.headers or {})).reminder_id)
                await msg.ack_sync(timeout=5)
        # No schedule is left to fire again, and no other fired copy waits: each fired once.
        await eventually(lambda: _no_schedules_left(js), 30, "every schedule removed after firing")
        consumer = await js.consumer_info(STREAM, "reader")
        assert consumer.num_pending == 0 and consumer.num_ack_pending == 0
        after = await js.stream_info(STREAM)
    finally:
        await nc.close()
    assert sorted(fired) == sorted(f"r{n}" for n in range(20))  # each once
    assert after.cluster.leader not in (None, leader)


async def _no_schedules_left(js) -> bool:
    info = await js.stream_info(STREAM, subjects_filter="timers.set.>")
    return not info.state.subjects
