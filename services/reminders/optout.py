"""The words that stop and resume messages we send first, in English and Spanish.

A message counts only when it is the keyword alone (case, accents and punctuation
ignored): "stop" is an opt-out, "stop the meeting at 5" is not. CANCEL, which Twilio
counts for SMS, is left out on purpose: here "cancel" alone usually answers "which
event should I cancel?".
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

STOP_WORDS = frozenset({
    "stop", "stopall", "stop all", "unsubscribe", "end", "quit", "opt out", "optout",
    "baja", "darme de baja", "dar de baja", "alto", "parar", "para", "detener", "no mas mensajes",
    "cancelar suscripcion", "desuscribir", "desuscribirme",
})
START_WORDS = frozenset({
    "start", "unstop", "resume", "subscribe", "opt in", "optin",
    "alta", "darme de alta", "reanudar", "suscribir", "suscribirme", "volver", "empezar", "comenzar",
})


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", plain)).strip()


def opt_keyword(text: str) -> Literal["stop", "start"] | None:
    """"stop" or "start" when the whole message is one of the keywords, else None."""
    word = normalise(text)
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


ACK = {
    ("stop", "en"): "You won't get any more reminders or messages from me unless you write to me. Send START to turn them back on.",
    ("stop", "es"): "No te enviaré más recordatorios ni mensajes salvo que me escribas. Mandá ALTA para volver a activarlos.",
    ("start", "en"): "Reminders are back on. Send STOP at any time to turn them off.",
    ("start", "es"): "Los recordatorios vuelven a estar activos. Mandá BAJA cuando quieras para desactivarlos.",
}
SPANISH_WORDS = frozenset({"baja", "darme de baja", "dar de baja", "alto", "parar", "para", "detener",
                           "no mas mensajes", "cancelar suscripcion", "desuscribir", "desuscribirme", "alta",
                           "darme de alta", "reanudar", "suscribir", "suscribirme", "volver", "empezar", "comenzar"})


def acknowledgement(text: str) -> str | None:
    """The confirmation to send for an opt-out or opt-in keyword, in the user's language."""
    kind = opt_keyword(text)
    if kind is None:
        return None
    return ACK[(kind, "es" if normalise(text) in SPANISH_WORDS else "en")]
