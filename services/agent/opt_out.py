"""STOP and START, recorded before the turn runs, whatever model answers it.

A message that is only an opt-out keyword (STOP, UNSUBSCRIBE, BAJA, …) stops every
message we would send first, at once for every replica (the preference is in a key-value
bucket the senders read when a reminder is due); START (ALTA, …) resumes them. Each is a
`ProactiveMessagesStopped` / `Resumed` fact under a Nats-Msg-Id made of the input's
sequence, so an input redelivered after a crash records it once. The turn still runs, so
the user gets an acknowledgement (the offline model's, or the LLM's), and their own
messages are still answered.
"""

from __future__ import annotations

from services.reminders.book import ReminderBook
from services.reminders.optout import opt_keyword
from shared.events import MessageTranscribed


async def record_opt_keywords(book: ReminderBook, conversation: str, user: str,
                              inputs: list[tuple[int, MessageTranscribed]]) -> None:
    for seq, event in inputs:
        kind = opt_keyword(event.data.text)
        if kind is None:
            continue
        chain = {"correlation_id": event.correlation_id or event.id, "causation_id": event.id}
        await book.set_opted_out(conversation, user, kind == "stop", event.data.text.strip(),
                                 msg_id=f"opt:{kind}:{conversation}:{seq}", chain=chain)
