"""What the offline model says about reminders, in English or Spanish."""

from __future__ import annotations

_TEXT = {
    "created": ("Done: I'll remind you “{text}” on {when}.", "Hecho: te recordaré «{text}» el {when}."),
    "created_event": ("Done: I'll remind you of “{text}” {minutes} minutes before, on {when}.",
                      "Hecho: te recordaré «{text}» {minutes} minutos antes, el {when}."),
    "ask_what": ("What should I remind you of? For example: “remind me to call Ana tomorrow at 9”.",
                 "¿Qué te recuerdo? Por ejemplo: «recuérdame llamar a Ana mañana a las 9»."),
    "ask_when": ("When should I remind you “{text}”? For example: “tomorrow at 9” or “in 20 minutes”.",
                 "¿Cuándo te recuerdo «{text}»? Por ejemplo: «mañana a las 9» o «en 20 minutos»."),
    "in_past": ("That time has already passed. When should I remind you?",
                "Esa hora ya pasó. ¿Cuándo te lo recuerdo?"),
    "none": ("You have no reminders.", "No tienes recordatorios."),
    "list": ("Your reminders:", "Tus recordatorios:"),
    "not_found": ("I couldn't find that reminder. Ask “what reminders do I have?” to see them.",
                  "No encuentro ese recordatorio. Pregunta «¿qué recordatorios tengo?» para verlos."),
    "which": ("Which one?", "¿Cuál?"),
    "cancelled": ("Cancelled the reminder “{text}”.", "Cancelé el recordatorio «{text}»."),
    "moved": ("Moved the reminder “{text}” to {when}.", "Moví el recordatorio «{text}» al {when}."),
    "which_event": ("Which event? Tell me its name, e.g. “remind me 30 minutes before the dentist”.",
                    "¿Qué evento? Dime su nombre, p. ej. «recuérdame 30 minutos antes del dentista»."),
    "failed": ("I couldn't do that: {error}", "No pude hacerlo: {error}"),
    "ask_quiet": ("From when to when? For example: “don't message me after 10pm”.",
                  "¿Desde qué hora? Por ejemplo: «no me escribas después de las 10 de la noche»."),
    "quiet": ("Got it: no reminders between {start} and {end} (your time); they wait until {end}.",
              "Entendido: nada de recordatorios entre las {start} y las {end} (tu hora); esperarán hasta las {end}."),
    "quiet_off": ("Quiet hours are off.", "Horas de silencio desactivadas."),
    "default": ("From now on I'll remind you {minutes} minutes before each new event.",
                "A partir de ahora te recordaré cada nuevo evento {minutes} minutos antes."),
    "default_off": ("No more automatic reminders before events.", "Sin recordatorios automáticos antes de los eventos."),
}


def _t(key: str, language: str, **values: object) -> str:
    english, spanish = _TEXT[key]
    return (spanish if language == "es" else english).format(**values)


def created(item: dict, language: str) -> str:
    if item.get("event_id") and item.get("minutes_before"):
        return _t("created_event", language, text=item["text"], minutes=item["minutes_before"], when=item["when"])
    return _t("created", language, text=item["text"], when=item["when"])


def ask_what(language: str) -> str:
    return _t("ask_what", language)


def ask_when(text: str, language: str) -> str:
    return _t("ask_when", language, text=text)


def in_past(language: str) -> str:
    return _t("in_past", language)


def listing(items: list[dict], language: str) -> str:
    if not items:
        return _t("none", language)
    return _t("list", language) + "\n" + "\n".join(f"• {i['when']} — {i['text']}" for i in items)


def none_found(language: str) -> str:
    return _t("not_found", language)


def which(items: list[dict], language: str) -> str:
    return _t("which", language) + "\n" + "\n".join(f"• {i['when']} — {i['text']}" for i in items)


def changed(data: dict, action: str, language: str) -> str:
    item = data.get("cancelled") or data.get("moved") or {}
    return _t("cancelled" if action == "cancel" else "moved", language, text=item.get("text", ""), when=item.get("when", ""))


def which_event(events: list[dict], language: str) -> str:
    if not events:
        return _t("which_event", language)
    return _t("which", language) + "\n" + "\n".join(f"• {e['when']} — {e['summary']}" for e in events)


def failed(error: str, language: str) -> str:
    return _t("failed", language, error=error.removeprefix("Error: "))


def ask_quiet(language: str) -> str:
    return _t("ask_quiet", language)


def preferences(prefs: dict, language: str) -> str:
    parts = []
    if prefs.get("quiet_start") and prefs.get("quiet_end"):
        parts.append(_t("quiet", language, start=prefs["quiet_start"], end=prefs["quiet_end"]))
    else:
        parts.append(_t("quiet_off", language))
    if prefs.get("default_minutes_before"):
        parts.append(_t("default", language, minutes=prefs["default_minutes_before"]))
    return " ".join(parts)
