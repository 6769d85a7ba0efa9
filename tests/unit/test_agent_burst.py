"""The burst rule: which messages wait for more, and how long."""

from __future__ import annotations

import pytest

from services.agent.burst import looks_unfinished, quiet_window
from shared.events import MessageTranscribed, MessageTranscribedData


def typed(text: str, source: str = "typed") -> MessageTranscribed:
    return MessageTranscribed(conversation="c" + "0" * 24,
                              data=MessageTranscribedData(message_sid="SM1", text=text, source=source))


@pytest.mark.parametrize("text", [
    "book the dentist friday at 3pm", "what do I have tomorrow?", "remind me to call mom at 5 today",
    "cancel the lunch with Ana tomorrow", "agendá dentista el viernes a las 3", "¿qué tengo mañana?",
    "que tengo mañana?", "gym friday 7am please",
])
def test_whole_requests_and_questions_are_complete(text):
    assert not looks_unfinished(text)


@pytest.mark.parametrize("text", [
    "hi", "Hola!", "quick question", "one more thing", "burst 1", "tomorrow,", "I need to book...",
    "can you book the dentist and", "agendá una reunión con", "y también", "ok so:",
])
def test_openers_and_open_endings_wait_for_more(text):
    assert looks_unfinished(text)


def test_windows_short_for_complete_long_for_openers_and_once_a_burst_has_started():
    assert quiet_window(typed("book the dentist friday at 3pm"), 0.4, 1.8) == 0.4
    assert quiet_window(typed("hi"), 0.4, 1.8) == 1.8
    assert quiet_window(typed("book the dentist friday at 3pm"), 0.4, 1.8, burst_size=2) == 1.8
    assert quiet_window(typed("", source="voice"), 0.4, 1.8) == 0.4  # a voice note is whole
