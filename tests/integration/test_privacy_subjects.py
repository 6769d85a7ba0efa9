"""Stores whose subjects name the conversation (the reminders' bucket and timer stream):
export reads only the user's subjects, erase purges them, and nothing of others moves."""

from __future__ import annotations

from nats.js.api import StreamConfig

from shared.ids import conversation_id
from shared.privacy import DataSubject
from shared.privacy_jetstream import SubjectsData

ALICE = conversation_id("+14155238886", "+34600777888")
BOB = conversation_id("+14155238886", "+447400999111")


async def test_a_users_subjects_are_exported_and_purged_and_no_one_elses(bus):
    kv = await bus.js.create_key_value(bucket="REMINDERS", history=1)
    for conversation, text in ((ALICE, "alice dentist"), (BOB, "bob tennis")):
        await kv.put(f"{conversation}.r1", text.encode())
        await kv.put(f"index.{conversation}", b'["r1"]')
    await bus.js.add_stream(StreamConfig(name="TIMERS_T", subjects=["timers.*.*.*"]))
    await bus.js.publish(f"timers.set.{ALICE}.r1", b"alice timer")
    await bus.js.publish(f"timers.set.{BOB}.r1", b"bob timer")
    stores = [SubjectsData("reminders", bus.js, "KV_REMINDERS",
                           ("$KV.REMINDERS.{conversation}.*", "$KV.REMINDERS.index.{conversation}")),
              SubjectsData("reminder_timers", bus.js, "TIMERS_T", ("timers.*.{conversation}.*",)),
              SubjectsData("missing", bus.js, "NO_SUCH_STREAM", ("x.{conversation}",))]
    alice = DataSubject("+34600777888", (ALICE,))

    exported = {store.name: await store.export(alice) for store in stores[:2]}
    assert [item["data"] for item in exported["reminders"]] == ["alice dentist", '["r1"]']
    assert [item["data"] for item in exported["reminder_timers"]] == ["alice timer"]

    assert [await store.erase(alice) for store in stores] == [2, 1, 0]
    assert [await store.erase(alice) for store in stores] == [0, 0, 0]  # again: nothing left
    assert sorted(await kv.keys()) == sorted([f"{BOB}.r1", f"index.{BOB}"])
    info = await bus.js.stream_info("KV_REMINDERS")
    assert info.state.messages == 2  # no delete markers holding Alice's keys
    assert (await bus.js.stream_info("TIMERS_T")).state.messages == 1
