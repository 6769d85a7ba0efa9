"""The offline model's privacy requests: erasure only after a confirmation, export at once."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from services.agent.offline.planner import plan
from services.agent.offline.privacy import ASK, ERASING, EXPORTING
from services.agent.tools.privacy import ERASE, EXPORT

TOOLS = {"create_event", "list_events", ERASE, EXPORT}


@pytest.mark.parametrize("text, language", [
    ("delete my data", "en"), ("Please erase all my data", "en"), ("forget everything about me", "en"),
    ("borrá mis datos", "es"), ("Por favor eliminá mis datos", "es"), ("borra todo lo de mí", "es"),
])
def test_an_erasure_request_is_asked_to_be_confirmed_first(text, language):
    assert plan([HumanMessage(text)], TOOLS)[:2] == (ASK[language], [])


@pytest.mark.parametrize("answer", ["yes", "YES", "Sí", "si, borralo", "confirmo"])
def test_a_confirmation_after_the_question_erases(answer):
    history = [HumanMessage("borrá mis datos"), AIMessage(ASK["es"]), HumanMessage(answer)]
    text, calls, _ = plan(history, TOOLS)
    assert text == "" and [(c["name"], c["args"]) for c in calls] == [(ERASE, {"confirmed": True})]
    done = history + [AIMessage("", tool_calls=calls), ToolMessage("requested: erasing", tool_call_id=calls[0]["id"],
                                                                   name=ERASE)]
    assert plan(done, TOOLS)[0] in ERASING.values()


def test_yes_without_the_question_erases_nothing():
    text, calls, _ = plan([HumanMessage("hello"), AIMessage("Hi! How can I help?"), HumanMessage("yes")], TOOLS)
    assert not any(c["name"] == ERASE for c in calls)


def test_an_export_request_files_it_and_says_the_operator_hands_it_over():
    text, calls, _ = plan([HumanMessage("What data do you have about me?")], TOOLS)
    assert [c["name"] for c in calls] == [EXPORT]
    done = [HumanMessage("What data do you have about me?"), AIMessage("", tool_calls=calls),
            ToolMessage("requested: the operator will prepare it", tool_call_id=calls[0]["id"], name=EXPORT)]
    assert plan(done, TOOLS)[0] == EXPORTING["en"]


@pytest.mark.parametrize("text", ["what do I have tomorrow?", "delete my dentist appointment",
                                  "remove my events, everything tomorrow", "cancel my lunch with Ana"])
def test_calendar_requests_are_not_taken_for_privacy_requests(text):
    answer, calls, _ = plan([HumanMessage(text)], TOOLS)
    assert answer not in ASK.values() and all(c["name"] not in (ERASE, EXPORT) for c in calls)
