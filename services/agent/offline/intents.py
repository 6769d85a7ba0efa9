"""What a message asks for, by rule: create, list, move, cancel, free time, the time, a
new time zone, a greeting, help, thanks, or something only an LLM could answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from services.agent.inputs import FAILED_INPUT
from services.agent.offline.when import When, parse_when
from services.agent.timezones import resolve_place

_POLITE = re.compile(
    r"^(?:please|pls|ok(?:ay)?|so|and|also|then|hey|now|can you|could you|would you|will you|"
    r"i want to|i'd like to|i would like to|i need to|let's|lets|go ahead and|kindly)\b[\s,]*"
)
_GREETING = re.compile(r"^(?:hi|hello|hey there|hey|hola|howdy|yo|good (?:morning|afternoon|evening))\b[\s!,.]*")
_CREATE = re.compile(r"^(?:schedule|add|book|create|put|set up|plan|arrange|organi[sz]e|make|note|remind me (?:of|about))\b")
_MOVE = re.compile(r"^(?:move|reschedule|postpone|push|shift|change|bring forward|delay)\b")
_CANCEL = re.compile(r"^(?:cancel|delete|remove|drop|call off|clear)\b")
_TIME = re.compile(r"\bwhat(?:'s| is)? the (?:time|date)\b|\bwhat time\b|\bwhat day is\b|\btoday'?s date\b|\bwhat'?s today\b")
_FREE = re.compile(r"\b(?:free|available|availability|free time|open slots?)\b")
_LIST = re.compile(
    r"\b(?:what'?s on|what is on|what do i have|what have i got|agenda|calendar|schedule|events?|appointments?|"
    r"meetings?|plans|busy|list)\b"
)
_ZONE = re.compile(
    r"\b(?:i'?m|i am|i'm now|i live|i'm currently|i am currently|i moved|i've moved|i have moved|i'm staying|i am staying)"
    r"\s+(?:now\s+)?(?:in|to|at)\s+(.+)$|\btime ?zone (?:is|to|should be)\s+(.+)$|\bset (?:my )?time ?zone (?:to )?(.+)$"
)
_HELP = re.compile(r"^(?:help|\?|menu|commands)\b|\bwhat can you do\b|\bhow does this work\b|\bwho are you\b")
_THANKS = re.compile(r"^(?:thanks|thank you|thx|ty|cheers|great|perfect|cool|ok thanks)\b[\s!.]*$")
_FILLER = re.compile(
    r"^(?:a |an |the |my |new |event |meeting called |an event called |event called |called |for |on |at |to )+|"
    r"(?: on| at| for| to| in| from| my| calendar| in my calendar| to my calendar| please)+$"
)


@dataclass
class Intent:
    kind: str  # greet, help, thanks, time, zone, create, list, free, move, cancel, failed, freeform
    text: str
    when: When = field(default_factory=When)
    subject: str = ""  # what the event is called (create), or which one (move, cancel)
    place: str = ""


def _subject(text: str, when: When, verb: re.Pattern[str]) -> str:
    rest = verb.sub("", when.strip(text), count=1).strip(" ,.!?")
    previous = None
    while previous != rest:
        previous = rest
        rest = _FILLER.sub("", rest).strip(" ,.!?")
    return rest


def parse_intents(message: str, today: date) -> list[Intent]:
    """The requests in one message (a greeting in front counts as its own)."""
    failed = [Intent("failed", m.group(3)) for m in FAILED_INPUT.finditer(message)]
    message = FAILED_INPUT.sub(" ", message)
    text = re.sub(r"\s+", " ", message.strip().lower().replace("’", "'"))
    if not text.strip(" !.") and failed:
        return failed
    intents: list[Intent] = []
    greeting = _GREETING.match(text)
    if greeting:
        intents.append(Intent("greet", greeting.group(0).strip(" !,.")))
        text = text[greeting.end():]
    text = text.strip(" !.")
    if not text:
        return (intents or [Intent("greet", "hi")]) + failed
    intent = _classify(text, today)
    intent.subject = _restore_case(intent.subject, message)
    return intents + [intent] + failed


def _restore_case(subject: str, original: str) -> str:
    """"lunch with ana" back to "lunch with Ana", word by word from what the user typed."""
    words = {word.lower(): word for word in re.findall(r"[\w'-]+", original.replace("’", "'"))}
    return re.sub(r"[\w'-]+", lambda m: words.get(m.group(0), m.group(0)), subject)


def _classify(text: str, today: date) -> Intent:
    core = text
    while (polite := _POLITE.match(core)) and polite.end() > 0:
        core = core[polite.end():]
    core = core.strip(" ?!.")
    if (reminder := match_reminder(core)) is not None:  # reminders first: "remind me …" is not an event
        return reminder
    when = parse_when(core, today)
    zone = _ZONE.search(core)
    if zone:
        place = re.sub(r"\b(?:now|today|these days|for now|at the moment)\b", "", next(g for g in zone.groups() if g))
        if resolve_place(place.strip(" .!?")):
            return Intent("zone", core, place=place.strip(" .!?"))
    if _THANKS.match(core):
        return Intent("thanks", core)
    if _HELP.search(core):
        return Intent("help", core)
    if _CANCEL.match(core):
        return Intent("cancel", core, when, _subject(core, when, _CANCEL))
    if _MOVE.match(core):
        return Intent("move", core, when, _subject(re.sub(r"\bto\b.*$", "", core) or core, When(), _MOVE))
    if _CREATE.match(core):  # without a day or time it asks for one
        return Intent("create", core, when, _subject(core, when, _CREATE))
    if _TIME.search(core):
        return Intent("time", core)
    if _FREE.search(core) and re.search(r"\b(?:when|am i|free time|slots?|availability)\b", core):
        return Intent("free", core, when)
    if _LIST.search(core):
        return Intent("list", core, when)
    return Intent("freeform", core)


from services.agent.offline.reminders import match_reminder  # noqa: E402  (it builds on `Intent`)
