"""`nodes.call_key`: the idempotency key a tool call sends (a calendar create's request_id)."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage

from services.agent.nodes import call_key, calls_before

CREATE = {"name": "create_event", "args": {"summary": "Dentist", "start": "2026-12-03T10:00"}, "id": "call_1"}


def turn(first: int, last: int) -> dict:
    return {"first_seq": first, "last_seq": last, "message_sids": [f"SM{n}" for n in range(first, last + 1)]}


def test_a_turn_whose_burst_grew_after_a_crash_keeps_its_keys():
    assert call_key("c1", turn(5, 5), CREATE, []) == call_key("c1", turn(5, 7), CREATE, [])


def test_the_same_request_with_its_arguments_in_another_order_keeps_its_key():
    reordered = {**CREATE, "args": dict(reversed(list(CREATE["args"].items()))), "id": "call_9"}
    assert call_key("c1", turn(5, 5), CREATE, []) == call_key("c1", turn(5, 5), reordered, [])


def test_different_requests_and_turns_get_different_keys():
    other = {**CREATE, "args": {**CREATE["args"], "start": "2026-12-03T11:00"}}
    keys = {
        call_key("c1", turn(5, 5), CREATE, []),
        call_key("c1", turn(5, 5), other, []),
        call_key("c1", turn(6, 6), CREATE, []),
        call_key("c2", turn(5, 5), CREATE, []),
    }
    assert len(keys) == 4 and all(len(k) <= 200 for k in keys)


def test_the_same_create_asked_for_again_in_one_turn_keeps_its_key():
    """A model that redoes its plan (older tool results fell out of its context; seen in the
    chaos suite after a Postgres outage, with bursts of 25 bookings) must not book twice."""
    again = {**CREATE, "id": "call_7"}
    assert call_key("c1", turn(5, 5), CREATE, []) == call_key("c1", turn(5, 5), again, [CREATE, CREATE])


def test_calls_before_counts_only_the_current_turn():
    messages = [HumanMessage("old", id="in-1"), AIMessage("", tool_calls=[CREATE], id="a1"),
                HumanMessage("new", id="in-2"), AIMessage("", tool_calls=[{**CREATE, "id": "call_2"}], id="a2")]
    assert [c["id"] for c in calls_before(messages, "in-2")] == ["call_2"]
