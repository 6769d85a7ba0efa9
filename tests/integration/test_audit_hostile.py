"""Audit against events its read models cannot hold: nothing blocks, nothing is lost."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.integration.test_audit import (
    ALICE,
    caught_up,
    publish,
    query,
    received,
    running_audit,
    scalar,
    sent,
    status,
)


def unprojectable() -> float:
    return REGISTRY.get_sample_value("switchboard_audit_events_total", {"outcome": "unprojectable"}) or 0.0


async def test_an_error_code_past_integer_is_projected_and_one_past_bigint_is_null_with_the_raw_value_kept(
    bus, database_url
):
    await publish(
        bus,
        sent(ALICE, "SMbig"), status(ALICE, "SMbig", "failed", when=1, error_code=2**31 + 7),
        sent(ALICE, "SMhuge"), status(ALICE, "SMhuge", "failed", when=1, error_code=2**70),
        received(ALICE, "SMafter", body="after"),
    )
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)
    rows = {r["message_sid"]: r for r in await query(database_url, "SELECT * FROM audit.messages")}
    assert rows["SMbig"]["error_code"] == 2**31 + 7
    assert (rows["SMhuge"]["status"], rows["SMhuge"]["error_code"]) == ("failed", None)
    assert rows["SMafter"]["body"] == "after"
    raw = await scalar(database_url, "SELECT payload->'data'->>'error_code' FROM audit.events "
                                     "WHERE type = 'DeliveryStatusChanged' AND payload->'data'->>'twilio_sid' = 'SMhuge'")
    assert raw == str(2**70)


async def test_an_event_the_read_models_refuse_is_recorded_without_projection_and_never_blocks(bus, database_url):
    before = unprojectable()
    # a part number past INTEGER: a forged or buggy MessageSent the messages table cannot hold
    await publish(bus, received(ALICE, "SM1"), sent(ALICE, "SMpoison", part=2**40), received(ALICE, "SM2"))
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)  # every event recorded, every one acknowledged
        await publish(bus, received(ALICE, "SM3"))
        await caught_up(bus, database_url)
    assert unprojectable() == before + 1  # the fault fired once, and only once
    [poison] = await query(database_url, "SELECT type, error FROM audit.events WHERE payload->'data'->>'twilio_sid' = 'SMpoison'")
    assert poison["type"] == "MessageSent" and poison["error"].startswith("not projected:")
    sids = {r["message_sid"] for r in await query(database_url, "SELECT message_sid FROM audit.messages")}
    assert sids == {"SM1", "SM2", "SM3"}
