"""`shared.text.clean_text`: what may reach Postgres, the model and WhatsApp."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.text import clean_text, is_clean

CONTROLS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))]


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_the_result_has_no_control_characters_and_encodes_as_utf8(text):
    cleaned = clean_text(text)
    assert not any(c in cleaned for c in CONTROLS)
    assert "\r" not in cleaned
    cleaned.encode("utf-8")  # no lone surrogates left
    assert is_clean(cleaned)


@given(st.text())
def test_cleaning_twice_changes_nothing_more(text):
    assert clean_text(clean_text(text)) == clean_text(text)


@given(st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs"))) )
def test_text_without_controls_passes_unchanged(text):
    assert clean_text(text) == text


@given(st.text(), st.integers(min_value=0, max_value=50))
def test_max_len_bounds_the_result(text, max_len):
    assert len(clean_text(text, max_len)) <= max_len


def test_tabs_and_newlines_stay_and_carriage_returns_become_newlines():
    assert clean_text("a\tb\r\nc\rd\ne") == "a\tb\nc\nd\ne"


def test_nul_and_friends_are_removed_and_lone_surrogates_replaced():
    assert clean_text("he\x00llo\x1b[31m\x85 wor\x7fld") == "hello[31m world"
    assert clean_text("x\ud800y") == "x\ufffdy"


def test_calendar_requests_clean_their_text_fields():
    from datetime import datetime

    from shared.calendar import CreateEvent

    request = CreateEvent(owner="+34600111222", conversation="c" + "0" * 24, summary="Lunch\x00 with\x07 Ana",
                          start=datetime(2026, 1, 1, 13), description="bring\x00 cake", location="Bar\x1b")
    assert (request.summary, request.description, request.location) == ("Lunch with Ana", "bring cake", "Bar")
