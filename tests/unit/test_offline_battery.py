"""The offline model on the battery (tests/unit/battery_cases.py), through the agent's real graph.

At least 95 % of the conversations must come out as expected, every failure is listed in
the output, no reply carries operator advice, and no event is ever booked in the past
unless the conversation confirmed it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.offline_rig import Assistant, Chat
from tests.unit.battery_cases import AR, CASES

NOW = datetime(2025, 6, 10, 10, 0)  # Tuesday, the user's local time
OPERATOR_WORDS = ("OPENAI", "API_KEY", "OPENAI_BASE_URL", "configure", "configur")


def user_for(case, index: int) -> str:
    """A number of its own for each case (same country, so the same zone and date order)."""
    return f"{case.user[:-4]}{index:04d}"


async def run_case(assistants: dict[str, Assistant], case, index: int) -> tuple[str | None, Chat]:
    zone = "America/Argentina/Buenos_Aires" if case.user == AR else "America/New_York"
    if zone not in assistants:
        assistants[zone] = Assistant(NOW, zone)
    chat = assistants[zone].chat(user_for(case, index))
    for seeded in case.seed:
        chat.seed(*seeded)
    for message in case.messages:
        await (chat.say(*message) if isinstance(message, tuple) else chat.say(message))
    problem = case.expect(chat, case.seed)
    if problem is None:
        leaked = [r for r in chat.replies if any(word.casefold() in r.casefold() for word in OPERATOR_WORDS)]
        problem = f"operator text in a reply: {leaked[0]!r}" if leaked else None
    return problem, chat


def past_bookings(case, chat: Chat) -> list[str]:
    now = NOW.replace(tzinfo=ZoneInfo(chat.zone))
    return [f"{e.summary} at {chat.local(e)}" for e in chat.calendar()
            if not e.event_id.startswith("seed") and e.start < now and not e.all_day]


async def test_the_battery():
    assert sum(len(case.messages) for case in CASES) >= 150
    failures, passed, total, past = [], Counter(), Counter(), []
    assistants: dict[str, Assistant] = {}
    for index, case in enumerate(CASES):
        problem, chat = await run_case(assistants, case, index)
        total[case.category] += 1
        if problem is None:
            passed[case.category] += 1
        else:
            failures.append(f"[{case.category}] {case.name!r}: {problem}\n      replies: {chat.replies}")
        if not case.past_ok and (booked := past_bookings(case, chat)):
            past.append(f"{case.name!r} booked in the past without confirmation: {booked}")
    print("\nOffline battery, per category:")
    for category in total:
        print(f"  {category:16} {passed[category]:3}/{total[category]:3}  {passed[category] / total[category]:6.1%}")
    rate = sum(passed.values()) / len(CASES)
    print(f"  {'all':16} {sum(passed.values()):3}/{len(CASES):3}  {rate:6.1%}")
    if failures:
        print("Failures:\n  " + "\n  ".join(failures))
    assert not past, "\n".join(past)
    assert rate >= 0.95, f"{rate:.1%} of the battery passed:\n  " + "\n  ".join(failures)
