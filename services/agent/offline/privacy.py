"""The offline model's side of a user's data rights: "delete my data" / "borrá mis datos"
(with a confirmation in the next message) and "what do you have about me".

Kept apart from `intents.py` on purpose: `planner.plan` asks `privacy_step` first and
goes on with the calendar intents when it answers None. The rules, in the order they
are checked (the order is the specification): a privacy tool's result in this turn is
answered; a confirmation right after our confirmation question erases; an erasure
request asks for confirmation; an export request files the request.
"""

from __future__ import annotations

import re
import uuid

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from services.agent.tools.privacy import ERASE, EXPORT

_ERASE = re.compile(
    r"\b(?:delete|erase|remove|wipe|forget)\b.{0,40}\b(?:my|all (?:of )?my|everything about me)\b.{0,20}"
    r"\b(?:data|information|info|messages|history)\b"
    r"|\b(?:delete|erase|forget)\b.{0,10}\beverything (?:you (?:have|know) )?about me\b"
    r"|\b(?:borr[aá]\w*|elimin[aá]\w*|suprim\w*)\b.{0,30}\b(?:mis datos|mi informaci[oó]n|todo (?:lo )?(?:de|sobre) m[ií])\b",
    re.IGNORECASE)
_EXPORT = re.compile(
    r"\bwhat (?:data|information|info|do you know|do you have)\b.{0,30}\b(?:about|on|of) me\b"
    r"|\b(?:export|download|a copy of)\b.{0,10}\bmy (?:data|information|info)\b"
    r"|\bqu[eé] (?:datos|informaci[oó]n|sab[eé]s|ten[eé]s|tienes|tienen)\b.{0,30}\b(?:de|sobre) m[ií]\b"
    r"|\b(?:export[aá]\w*|descarg\w*|una copia de)\b.{0,10}\bmis datos\b",
    re.IGNORECASE)
_CONFIRM = re.compile(r"^\W*(?:yes|yep|confirm|i confirm|delete|erase|s[ií]|confirmo|borr[aá]\w*|dale)\b", re.IGNORECASE)
_SPANISH = re.compile(r"\b(?:borr|elimin|suprim|mis datos|qu[eé]|s[ií]\b|confirmo|dale)", re.IGNORECASE)

ASK = {
    "en": "Do you want me to erase everything I have about you: your messages, voice notes, calendar events and "
          "what I remember? This cannot be undone. Reply YES to confirm.",
    "es": "¿Querés que borre todo lo que tengo sobre vos: tus mensajes, notas de voz, eventos del calendario y lo "
          "que recuerdo? No se puede deshacer. Respondé SÍ para confirmar.",
}
ERASING = {
    "en": "Done: I'm erasing everything I had about you. Anything you write from now on starts a new conversation.",
    "es": "Listo: estoy borrando todo lo que tenía sobre vos. Lo que escribas desde ahora empieza una conversación nueva.",
}
EXPORTING = {
    "en": "I've asked the operator to prepare a copy of everything I hold about you; they will contact you to hand "
          "it over (it is not sent in this chat).",
    "es": "Le pedí al operador que prepare una copia de todo lo que tengo sobre vos; te va a contactar para "
          "entregártela (no se envía por este chat).",
}
FAILED = {"en": "I couldn't file that request just now. Could you ask again?",
          "es": "No pude registrar el pedido ahora. ¿Podés pedirlo de nuevo?"}


def _text(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else " ".join(map(str, message.content))


def _call(name: str, args: dict) -> list[dict]:
    return [{"name": name, "args": args, "id": f"privacy_{uuid.uuid4().hex[:8]}", "type": "tool_call"}]


def privacy_step(messages: list[BaseMessage], tools: set[str]) -> tuple[str, list[dict]] | None:
    """(text, tool_calls) when the user's latest message is about their data; None otherwise."""
    last = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    if last < 0 or not {ERASE, EXPORT} <= tools:
        return None
    text = _text(messages[last])
    language = "es" if _SPANISH.search(text) else "en"
    results = [m for m in messages[last + 1:] if isinstance(m, ToolMessage) and m.name in (ERASE, EXPORT)]
    if results:
        result = results[-1]
        if not _text(result).startswith("requested"):
            return FAILED[language], []
        return (ERASING if result.name == ERASE else EXPORTING)[language], []
    earlier = [m for m in messages[:last] if isinstance(m, AIMessage) and _text(m).strip()]
    asked = bool(earlier) and _text(earlier[-1]) in ASK.values()
    if asked and _CONFIRM.search(text):
        return "", _call(ERASE, {"confirmed": True})
    if _ERASE.search(text):
        return ASK[language], []
    if _EXPORT.search(text):
        return "", _call(EXPORT, {})
    return None
