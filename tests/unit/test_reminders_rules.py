"""The rules reminders follow: opt-out words, quiet hours, the window, templates, timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.reminders.model import Preferences
from services.reminders.optout import opt_keyword
from services.reminders.quiet import quiet_until
from services.reminders.templates import parse_templates, template_for
from services.reminders.timers import parse_due, schedule_time
from services.reminders.window import inside_window


@pytest.mark.parametrize(("text", "kind"), [
    ("STOP", "stop"), ("stop.", "stop"), ("Unsubscribe", "stop"), ("BAJA", "stop"), ("darme de baja", "stop"),
    ("Stop all", "stop"), ("START", "start"), ("Alta", "start"), ("reanudar", "start"), ("unstop", "start"),
    ("stop the meeting", None), ("cancel", None), ("cancel it", None), ("hola", None), ("yes", None),
])
def test_only_a_keyword_alone_opts_out_or_in(text, kind):
    assert opt_keyword(text) == kind


def test_quiet_hours_wrap_midnight_in_the_users_zone():
    prefs = Preferences(quiet_start="22:00", quiet_end="08:00", time_zone="America/New_York")
    late = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 23:00 in New York
    assert quiet_until(prefs, late) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 08:00 there
    early = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)  # 06:00 there
    assert quiet_until(prefs, early) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    assert quiet_until(prefs, datetime(2026, 12, 1, 17, 0, tzinfo=UTC)) is None  # noon there
    assert quiet_until(Preferences(), late) is None  # the default: none


def test_the_window_is_24_hours_less_a_margin():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert inside_window(now - timedelta(hours=23, minutes=58), now)
    assert not inside_window(now - timedelta(hours=23, minutes=59, seconds=30), now)
    assert not inside_window(None, now)


def test_templates_are_per_purpose_and_language_and_bad_settings_are_refused():
    templates = parse_templates('{"reminder": {"en": "HX' + "1" * 32 + '"}}')
    assert template_for(templates, "en") == "HX" + "1" * 32
    assert template_for(templates, "es") is None  # never a template approved for another language
    with pytest.raises(ValueError, match="REMINDER_TEMPLATES"):
        parse_templates('{"reminder": {"en": "not-a-sid"}}')
    with pytest.raises(ValueError):
        parse_templates("{not json")


def test_timers_fire_never_before_their_time_and_name_their_revision():
    assert schedule_time(datetime(2026, 12, 1, 9, 0, 0, 1500, tzinfo=UTC)) == "2026-12-01T09:00:00.002Z"
    assert schedule_time(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)) == "2026-12-01T09:00:00.000Z"
    due = parse_due("timers.due.cabc.r1", {"Sb-Reminder-Revision": "3"})
    assert (due.conversation, due.reminder_id, due.revision) == ("cabc", "r1", 3)
    with pytest.raises(ValueError):
        parse_due("timers.due.cabc.r1", {})
