"""The offline model's words: everything it says, in one place."""

from __future__ import annotations

HELP = (
    "I can help with your calendar and the clock:\n"
    "• “Schedule lunch with Ana tomorrow at 1”\n"
    "• “What do I have this week?”\n"
    "• “Move it to 3pm” or “Move the dentist to Friday at 10:30”\n"
    "• “Cancel lunch with Ana”\n"
    "• “When am I free tomorrow?”\n"
    "• “What time is it?” or “I'm in Madrid now” to change your time zone"
)
NEEDS_LLM = (
    "I'm running without a language model, so I can only help with your calendar, the date and time, "
    "and your time zone. Answering other questions needs an LLM to be configured "
    "(OPENAI_API_KEY, or OPENAI_BASE_URL for a local server). Say “help” to see what I can do."
)
GREETING = "Hi! I'm your assistant."
THANKS = "You're welcome!"
ONLY_YOURS = "I can only see and change your own calendar."


def bullet_list(items: list[dict]) -> str:
    return "\n".join(f"• {item['when']}: {item['summary']}" for item in items)


def failed_tool(action: str, error: str) -> str:
    return f"Sorry, I couldn't {action}: {error.removeprefix('Error:').strip()}"


def created(item: dict, overlaps: list[dict]) -> str:
    text = f"Done: “{item['summary']}” is in your calendar for {item['when']} ({item['time_zone']})."
    if overlaps:
        text += f"\nHeads up, it overlaps with:\n{bullet_list(overlaps)}"
    return text


def moved(item: dict) -> str:
    return f"Moved: “{item['summary']}” is now {item['when']} ({item['time_zone']})."


def cancelled(item: dict) -> str:
    return f"Cancelled “{item['summary']}”."


def listing(items: list[dict], label: str, truncated: bool) -> str:
    if not items:
        return f"You have nothing in your calendar {label}."
    more = "\n(and more — ask for a shorter range to see the rest)" if truncated else ""
    return f"Here's what you have {label}:\n{bullet_list(items)}{more}"


def which_one(items: list[dict], action: str) -> str:
    return f"Several events match. Which one should I {action}?\n{bullet_list(items)}"


def not_found(subject: str, action: str) -> str:
    return f"I couldn't find “{subject}” in your calendar, so I didn't {action} anything."


def free(slots: list[str], label: str) -> str:
    if not slots:
        return f"You have no free hour {label} between 9:00 and 18:00."
    return f"You're free {label}:\n" + "\n".join(f"• {slot}" for slot in slots[:8])


def clock(now: dict) -> str:
    return f"It's {now['time']} on {now['date']} ({now['time_zone']})."


def zone_changed(result: dict) -> str:
    return f"Got it: I'll use {result['time_zone']} from now on. It's {result['now']['time']} there."
