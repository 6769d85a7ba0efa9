"""What only the in-memory event log can show quickly: the duplicate window expiring, and outages.

Everything the fake shares with JetStream is in tests/contract/test_eventlog_contract.py.
"""

from __future__ import annotations

import pytest

from shared.clock import ManualClock
from shared.eventlog import PublishFailed
from shared.eventlog_memory import InMemoryEventLog, server_partition
from shared.events import MessageTranscribed, MessageTranscribedData

CONVERSATION = "c" + "a" * 24


def said(text: str) -> MessageTranscribed:
    return MessageTranscribed(conversation=CONVERSATION,
                              data=MessageTranscribedData(message_sid="SM1", text=text, source="typed"))


async def test_a_message_id_is_deduplicated_only_within_the_window():
    clock = ManualClock()
    log = InMemoryEventLog(duplicate_window_s=120, clock=clock)
    assert await log.publish(said("hi"), "text:SM1") == 1
    await clock.advance(119.5)
    assert await log.publish(said("hi"), "text:SM1") == 1
    await clock.advance(0.5)  # the window is counted from the first copy
    assert await log.publish(said("hi"), "text:SM1") == 2
    assert await log.last_seq() == 2


async def test_an_unavailable_log_refuses_publishes_and_stores_nothing():
    log = InMemoryEventLog()
    log.unavailable = True
    with pytest.raises(PublishFailed):
        await log.publish(said("hi"), "text:SM1")
    log.unavailable = False
    assert await log.publish(said("hi"), "text:SM1") == 1  # the failed attempt left no msg id behind


def test_partitions_are_stable_and_in_range():
    assert server_partition(CONVERSATION, 16) == server_partition(CONVERSATION, 16)
    assert {server_partition(f"c{n:024x}", 4) for n in range(100)} == {0, 1, 2, 3}
    assert InMemoryEventLog(partitions=16).stored_subject(f"wa.text.{CONVERSATION}") == \
        f"wa.text.{server_partition(CONVERSATION, 16)}.{CONVERSATION}"
