"""The transcriber's handler: one MessageReceived in, one text event out."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter

from services.transcriber.transcription import VoicePipeline, text_of
from shared.consumer import Delivery
from shared.eventlog import EventLog
from shared.events import Event, MessageReceived, MessageTranscribed
from shared.logging import get_logger

log = get_logger(__name__)

MESSAGES = Counter(
    "switchboard_transcriber_messages_total", "Text events published", ["source", "outcome"]
)


@dataclass
class Transcriber:
    """Everything the handler needs; built once in __main__."""

    events: EventLog
    voice: VoicePipeline
    max_deliver: int


def text_msg_id(message_sid: str) -> str:
    """The text event's Nats-Msg-Id: a redelivered message never makes a second one."""
    return f"text:{message_sid}"


async def transcribe_message(event: Event, delivery: Delivery, deps: Transcriber) -> None:
    """Publish the text of a received message; transient failures raise to be redelivered."""
    if not isinstance(event, MessageReceived):
        return
    last_attempt = delivery.deliveries >= deps.max_deliver
    data = await text_of(event.data, deps.voice, last_attempt)
    await deps.events.publish(event.caused(MessageTranscribed, data), msg_id=text_msg_id(data.message_sid))
    MESSAGES.labels(data.source, data.failure_code or "ok").inc()
    log.info(
        "message_transcribed", message_sid=data.message_sid, source=data.source, engine=data.engine,
        duration_s=data.duration_s, failure_code=data.failure_code, deliveries=delivery.deliveries,
    )
