"""The assistant speaks Spanish in one register, voseo ("decime", "tenés"), everywhere:
the offline model's replies, the reminders and the STOP/START acknowledgements."""

from __future__ import annotations

import re

from services.agent.offline.render import WORDS
from services.reminders.optout import ACK

# Imperatives and present forms that are only tuteo; each has a voseo twin ("decime", "tenés").
TUTEO = re.compile(r"\b(?:dime|recuérdame|escríbeme|envía|pregunta|tienes|puedes|quieres|sabes|eres|haz|ven)\b",
                   re.IGNORECASE)


def spanish_texts() -> dict[str, str]:
    texts = {f"render:{key}": text for key, text in WORDS["es"].items()}
    texts.update({f"optout:{kind}": text for (kind, language), text in ACK.items() if language == "es"})
    return texts


def test_every_spanish_reply_uses_voseo():
    found = {name: TUTEO.findall(text) for name, text in spanish_texts().items()}
    assert {name: words for name, words in found.items() if words} == {}


def test_the_check_reads_the_real_tables():
    texts = spanish_texts()
    assert len(texts) > 50 and "optout:stop" in texts and "render:reminder_none" in texts
    assert TUTEO.search("No tienes recordatorios. Dime cuál.")  # the check can fail
