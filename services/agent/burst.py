"""Bursts: the messages a user sends in quick succession are answered in one turn.

The conversation's lane hands over one input at a time. Before answering it, the agent
reads ahead in the stream for this conversation's later inputs (a direct get by subject,
so nothing is consumed) and waits until a quiet window has passed since the newest one
arrived, at most `max_s` in all. Inputs that arrived while the previous turn ran are
already in the stream, so they join without any wait. The lane later delivers those
inputs one by one; they are found answered and only acknowledged.

The window is counted from when each input was stored, not from when the agent got to
it, so a backlog costs no extra waiting. The wait happens on the conversation's own lane:
it delays nobody else.

How long the quiet window is depends on the newest message (`quiet_window`). A message
that reads as complete ("book the dentist friday at 3", "what's on tomorrow?", a voice
note) gets the short window, so a lone message is answered fast; one that reads as the
start of something ("hi", "quick question", "and also…", "tomorrow,") gets the long one,
because WhatsApp users who open with a fragment usually send the rest within a second or
two. See docs/agent.md for the measurement behind the two values.
"""

from __future__ import annotations

import re

from shared.clock import SYSTEM_CLOCK, Clock
from shared.eventlog import EventLog
from shared.events import MessageTranscribed, UnknownEvent, decode

MAX_INPUTS = 25

# Words after which a sentence is obviously not finished (English and Spanish).
_CONNECTORS = frozenset(
    "and or but so then because to for with the a an my of at on in about also plus "
    "y o pero entonces porque que para con el la los las un una mi de a en sobre también".split()
)
_OPEN_ENDINGS = (",", ":", ";", "-", "–", "...", "…", "+", "&")
_WORD = re.compile(r"[\w']+", re.UNICODE)


def looks_unfinished(text: str) -> bool:
    """Whether a message reads as the start of a burst rather than a whole request.

    The order of the checks is the rule: a question mark means a complete question; an open
    ending (a comma, an ellipsis, a connector word) means more is coming; a message of
    three words or fewer ("hi", "hola", "quick question", "one more thing") is an opener;
    anything else is complete.
    """
    stripped = text.strip()
    if not stripped:
        return False  # a voice note or attachment with no caption: complete as it is
    if stripped.endswith(("?", "¿")):
        return False
    if stripped.endswith(_OPEN_ENDINGS):
        return True
    words = _WORD.findall(stripped.lower())
    if words and words[-1] in _CONNECTORS:
        return True
    return len(words) <= 3


def quiet_window(event: MessageTranscribed, short_s: float, long_s: float, burst_size: int = 1) -> float:
    """How long to wait after this input for the user's next message.

    Once a second message has joined, the user is typing a burst: every later message gets
    the long window, whatever it says.
    """
    if burst_size > 1:
        return long_s
    if event.data.source != "typed":
        return short_s
    return long_s if looks_unfinished(event.data.text) else short_s


async def later_inputs(
    events: EventLog, subject: str, after_seq: int, limit: int = MAX_INPUTS
) -> list[tuple[int, MessageTranscribed]]:
    """This conversation's inputs stored after `after_seq`, in order (the stored `subject`)."""
    found: list[tuple[int, MessageTranscribed]] = []
    after = after_seq
    while len(found) < limit:
        stored = await events.next_for_subject(subject, after)
        if stored is None:
            break
        try:
            event = decode(stored.data)
        except (UnknownEvent, ValueError):
            break  # the consumer will dead-letter it in its turn; stop before it to keep order
        if isinstance(event, MessageTranscribed):
            found.append((stored.seq, event))
        after = stored.seq
    return found


async def collect_burst(
    events: EventLog, subject: str, first: tuple[int, MessageTranscribed], window_s: float, max_s: float,
    fragment_window_s: float | None = None, clock: Clock = SYSTEM_CLOCK,
) -> list[tuple[int, MessageTranscribed]]:
    """The inputs to answer together, starting with `first` (the one the lane delivered).

    `window_s` follows a message that reads as complete, `fragment_window_s` (default: the
    same) one that reads as the start of a burst.
    """
    long_s = window_s if fragment_window_s is None else fragment_window_s
    inputs = [first]
    deadline = clock.monotonic() + max_s
    while len(inputs) < MAX_INPUTS:
        inputs += await later_inputs(events, subject, inputs[-1][0], MAX_INPUTS - len(inputs))
        newest_event = inputs[-1][1]
        quiet = quiet_window(newest_event, window_s, long_s, len(inputs))
        quiet_until = (newest_event.occurred_at - clock.now()).total_seconds() + quiet
        wait = min(quiet_until, deadline - clock.monotonic())
        if wait <= 0:
            break
        await clock.sleep(wait)
    return inputs
