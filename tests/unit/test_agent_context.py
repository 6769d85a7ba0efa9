"""Bounded context, compaction, clean replies, tool schemas and settings."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage, ToolMessage
from pydantic import ValidationError

from services.agent.config import AgentSettings
from services.agent.context import SUMMARY_HEADER, compact, select_context, shorten_result, tokens, units
from services.agent.replies import FALLBACK, clean_reply
from services.agent.tools.calendar import build_calendar_tools
from services.agent.tools.clock import build_clock_tools
from services.agent.tools.search import build_search_tool


def turn(n: int, words: int = 40) -> list:
    call = {"name": "list_events", "args": {}, "id": f"call{n}", "type": "tool_call"}
    return [
        HumanMessage(f"question {n} " + "word " * words, id=f"in-{n}"),
        AIMessage("", tool_calls=[call], id=f"ai{n}a"),
        ToolMessage('{"events": []}', tool_call_id=f"call{n}", id=f"tool{n}"),
        AIMessage(f"answer {n} " + "word " * words, id=f"ai{n}b"),
    ]


def test_the_context_keeps_the_current_input_and_the_newest_turns_within_the_budget():
    history = [m for n in range(1, 30) for m in turn(n)] + [HumanMessage("now this", id="in-30")]
    sent = select_context(history, "in-30", budget=500)
    assert tokens(sent) <= 500
    assert sent[-1].content == "now this"
    assert isinstance(sent[0], HumanMessage)  # starts where the user spoke
    ids = [m.id for m in sent]
    for m in sent:  # a tool call and its result are never split
        if isinstance(m, ToolMessage):
            assert f"ai{m.tool_call_id[4:]}a" in ids
    assert "in-29" in ids and "in-1" not in ids


def test_a_tool_call_left_without_a_result_is_answered_before_it_is_sent():
    dangling = AIMessage("", tool_calls=[{"name": "x", "args": {}, "id": "c1", "type": "tool_call"}], id="a1")
    sent = select_context([HumanMessage("hi", id="in-1"), dangling, HumanMessage("again", id="in-2")], "in-2", 1000)
    assert [type(m).__name__ for m in sent] == ["HumanMessage", "AIMessage", "ToolMessage", "HumanMessage"]
    assert sent[2].tool_call_id == "c1" and sent[2].status == "error"
    orphan = ToolMessage("{}", tool_call_id="gone", id="t0")
    assert units([orphan, HumanMessage("x", id="in-3")]) == [[], [HumanMessage("x", id="in-3")]]


def test_a_burst_longer_than_the_budget_keeps_its_newest_words():
    sent = select_context([HumanMessage("a " * 5000 + "the end", id="in-1")], "in-1", budget=400)
    assert tokens(sent) <= 400 and sent[0].content.endswith("the end")


def test_the_newest_tool_round_of_the_turn_is_sent_whole_with_its_results_shortened_when_too_big():
    """A burst of 25 bookings in a busy hour: every result lists many overlaps. Dropping the
    round (as before) made the model ask for all 25 again, six rounds, then "ask again"."""
    busy = [{"event_id": f"e{k}", "summary": f"meeting {k}", "when": "Tue 01 Dec 2026, 09:00–10:00"} for k in range(30)]
    calls = [{"name": "create_event", "args": {"summary": f"item {n}"}, "id": f"c{n}", "type": "tool_call"}
             for n in range(25)]
    results = [ToolMessage(json.dumps({"created": {"event_id": f"n{n}", "summary": f"item {n}", "when": "Tue",
                                                   "time_zone": "UTC"}, "overlaps": busy}),
                           tool_call_id=f"c{n}", id=f"t{n}") for n in range(25)]
    history = [HumanMessage(f"schedule item {n}", id=f"in-{n}") for n in range(25)]
    history += [AIMessage("", tool_calls=calls, id="round1"), *results]
    sent = select_context(history, "in-0", budget=2000)
    sent_results = [m for m in sent if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in sent_results] == [f"c{n}" for n in range(25)]
    for n, m in enumerate(sent_results):
        data = json.loads(m.content)  # still JSON
        assert data["created"]["summary"] == f"item {n}"
        assert data["overlaps_left_out"] == len(busy) - len(data["overlaps"]) > 0


def test_a_shortened_result_that_is_not_json_is_cut_at_the_end():
    assert shorten_result("x" * 1000, 100) == "x" * 93 + " [cut]"
    assert json.loads(shorten_result(json.dumps({"events": list(range(200)), "truncated": False}), 80)) == {
        "events": [0, 1, 2, 3, 4], "truncated": False, "events_left_out": 195}


def test_compaction_removes_whole_old_turns_and_folds_them_into_a_bounded_summary():
    history = [m for n in range(1, 41) for m in turn(n)] + [HumanMessage("current", id="in-41")]
    done = compact(history, "", keep_tokens=1500, summary_tokens=200, protect_from="in-41")
    assert done is not None
    removals, summary = done
    assert all(isinstance(r, RemoveMessage) for r in removals)
    removed = {r.id for r in removals}
    kept = [m for m in history if m.id not in removed]
    assert isinstance(kept[0], HumanMessage) and kept[-1].id == "in-41"
    assert tokens(kept) <= 1500 // 2 + tokens([kept[-1]])
    assert summary.startswith(SUMMARY_HEADER) and len(summary) <= 200 * 4
    assert "answer" in summary and "question" in summary and "events" not in summary  # no tool output
    assert compact(kept, summary, keep_tokens=1500, summary_tokens=200, protect_from="in-41") is None


@pytest.mark.parametrize("raw, clean", [
    ("Done! Lunch is at 13:00.", "Done! Lunch is at 13:00."),
    ('{"created": {"event_id": "abc", "summary": "Lunch"}}', FALLBACK),
    ('Here it is: {"event_id": "abc", "when": "13:00"} enjoy', "Here it is:  enjoy"),
    ('Sure.\n```json\n{"name": "list_events", "arguments": {}}\n```', "Sure."),
    ("<tool_call>{\"name\": \"x\"}</tool_call>All set.", "All set."),
    ("Pick one: [1] or [2]", "Pick one: [1] or [2]"),
    ("", FALLBACK),
    ([{"type": "text", "text": "From blocks."}], "From blocks."),
])
def test_replies_never_carry_tool_json_or_markup(raw, clean):
    assert clean_reply(raw) == clean


def test_no_tool_lets_the_model_name_an_owner_or_a_conversation():
    tools = build_calendar_tools(object()) + build_clock_tools(None) + [build_search_tool(None)]
    for tool in tools:
        schema = json.dumps(tool.schema())
        assert "owner" not in schema and "conversation" not in schema
        with pytest.raises(ValidationError):
            tool.args.model_validate({"owner": "+15550100"})


def test_settings_choose_the_model_and_refuse_what_cannot_work(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENT_MODEL", "DEFAULT_TIMEZONE",
                 "AGENT_PROMPT_FILE", "SWITCHBOARD_ENV", "HEALTH_PORT", "AGENT_DEBOUNCE_S", "AGENT_DEBOUNCE_FRAGMENT_S", "PG_PREPARE_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
    base = {"DATABASE_URL": "postgresql://localhost/switchboard"}
    assert AgentSettings(**base).model_name == "offline"
    assert AgentSettings(**base, OPENAI_API_KEY="sk-real").model_name == "openai:gpt-4o-mini"
    assert AgentSettings(**base, OPENAI_API_KEY="sk-real", AGENT_MODEL="openai:gpt-4.1").model_name == "openai:gpt-4.1"
    assert AgentSettings(**base).health_port == 8083 and AgentSettings(**base).debounce_s == 0.4
    assert AgentSettings(**base).debounce_fragment_s == 1.8
    assert AgentSettings(**base, PG_PREPARE_THRESHOLD="none").pg_prepare_threshold is None  # PgBouncer
    assert AgentSettings(**base).pg_prepare_threshold == 5
    for bad in ({}, {"DATABASE_URL": "mysql://x"}, {**base, "AGENT_MODEL": "openai:gpt-4o"},
                {**base, "AGENT_MODEL": "claude"}, {**base, "DEFAULT_TIMEZONE": "Mars/Base"},
                {**base, "AGENT_PROMPT_FILE": str(tmp_path / "missing.md")},
                {**base, "SWITCHBOARD_ENV": "production", "OPENAI_API_KEY": "changeme"}):
        with pytest.raises(ValidationError):
            AgentSettings(**bad)
