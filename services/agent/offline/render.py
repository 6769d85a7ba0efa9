"""The offline model's words, in English and Spanish: everything it says, in one place.

Nothing here is operator advice: what the offline model cannot do is said briefly, with
what it can do instead (configuring a model is in the README and the logs).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

_DAYS = {"en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "es": ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"]}
_LONG_DAYS = {"en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
              "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]}
_MONTHS = {"en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
           "es": "ene feb mar abr may jun jul ago sep oct nov dic".split()}

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "help": "I can help with your calendar and the clock:\n"
                "• “Dentist Thursday 4pm” or “Schedule lunch with Ana tomorrow at 1”\n"
                "• “Yoga every Monday at 7pm for 90 min”\n"
                "• “What do I have this week?” · “Am I free Friday at 3?”\n"
                "• “Move it to 3pm” · “Cancel lunch with Ana” · “Cancel everything tomorrow”\n"
                "• “When am I free tomorrow?” · “What time is it?” · “I'm in Madrid now”\n"
                "• “Remind me to call Ana tomorrow at 9” · “What reminders do I have?”\n"
                "• “Reply in Spanish” to change my language",
        "needs_llm": "Sorry, I can only help with your calendar, the date and time, and your time zone. "
                     "Try “What do I have tomorrow?” or say “help” for more.",
        "greeting": "Hi! I'm your assistant.",
        "thanks": "You're welcome!",
        "ack": "OK 👍 Tell me what you'd like to do with your calendar, or say “help”.",
        "only_yours": "I can only see and change your own calendar.",
        "language": "OK, I'll reply in English from now on.",
        "failed_tool": "Sorry, I couldn't {action}: {error}",
        "created": "Done: “{summary}” is in your calendar for {when}.",
        "created_short": "Done: “{summary}” is in your calendar.",
        "repeats": " It repeats {rule}.",
        "overlaps": "\nHeads up, it overlaps with:\n{items}",
        "moved": "Moved: “{summary}” is now {when}.",
        "cancelled": "Cancelled “{summary}”.",
        "cancelled_many": "Cancelled {count} events:\n{items}",
        "listing": "Here's what you have {label}:\n{items}",
        "nothing": "You have nothing in your calendar {label}.",
        "more": "\n(and more — ask for a shorter range to see the rest)",
        "which": "Several events match. Which one should I {action}? (say the number)\n{items}",
        "not_found": "I couldn't find “{subject}” in your calendar, so I didn't {action} anything.",
        "not_found_plain": "I couldn't find “{subject}” in your calendar in the next six months.",
        "found": "Here's when:\n{items}",
        "free": "You're free {label}:\n{items}",
        "no_free": "You have no free hour {label} between 9:00 and 18:00.",
        "clock": "It's {time} on {date} ({zone}).",
        "zone": "Got it: I'll use {zone} from now on. It's {time} there.",
        "ask_title": "What should I call the event? For example: “Lunch with Ana tomorrow at 1”.",
        "ask_time": "What time should I put “{subject}”{day}? For example: “at 3pm”.",
        "ask_day": "When should I put “{subject}”? For example: “tomorrow at 3pm”.",
        "ask_move": "When should I move “{summary}” to?",
        "ask_which": "Which event should I {action}? Tell me its name, e.g. “{action} lunch with Ana”.",
        "past": "{when} is in the past. Should I still put “{summary}” in your calendar? (yes/no)",
        "confirm_cancel_all": "Cancel these {count} events {label}? (yes/no)\n{items}",
        "confirm_cancel_one": "Cancel this event {label}? (yes/no)\n{items}",
        "nothing_to_cancel": "You have nothing to cancel {label}.",
        "declined": "OK, I left your calendar as it was.",
        "busy": "No, at {when} you have:\n{items}",
        "free_at": "Yes, you're free {when}.",
        "retry": "I couldn't finish that just now. Could you ask again?",
        "move": "move", "cancel": "cancel", "zone_change": "change your time zone to", "that_change": "that",
        "confirm_heard": "I want to be sure I heard you right: should I {action} {what}? (yes/no)",
        "fail_unclear": "I couldn't make that out, could you type it?",
        "fail_no_speech": "I couldn't hear any words in that voice note. Could you try again, or type it?",
        "act_create": "add that to your calendar", "act_read": "read your calendar", "act_check": "check your calendar",
        "act_zone": "change your time zone", "act_move": "move it", "act_cancel": "cancel it",
        "today": "today", "tomorrow": "tomorrow", "on_day": "on {day}", "week": "this week",
        "next_week": "next week", "weekend": "this weekend", "month": "this month", "next_month": "next month",
        "next_days": "in the next 7 days", "all_day": "all day",
        "every_day": "every day", "every_week": "every week", "every_month": "every month", "every_year": "every year",
        "every": "every {days}", "and": " and ",
        # reminders (reminder_render.py)
        "reminder_created": "Done: I'll remind you “{text}” on {when}.",
        "reminder_created_event": "Done: I'll remind you of “{text}” {minutes} minutes before, on {when}.",
        "reminder_ask_what": "What should I remind you of? For example: “remind me to call Ana tomorrow at 9”.",
        "reminder_ask_when": "When should I remind you “{text}”? For example: “tomorrow at 9” or “in 20 minutes”.",
        "reminder_in_past": "That time has already passed. When should I remind you?",
        "reminder_none": "You have no reminders.",
        "reminder_list": "Your reminders:",
        "reminder_not_found": "I couldn't find that reminder. Ask “what reminders do I have?” to see them.",
        "reminder_which": "Which one?",
        "reminder_cancelled": "Cancelled the reminder “{text}”.",
        "reminder_moved": "Moved the reminder “{text}” to {when}.",
        "reminder_which_event": "Which event? Tell me its name, e.g. “remind me 30 minutes before the dentist”.",
        "reminder_failed": "I couldn't do that: {error}",
        "reminder_ask_quiet": "From when to when? For example: “don't message me after 10pm”.",
        "reminder_quiet": "Got it: no reminders between {start} and {end} (your time); they wait until {end}.",
        "reminder_quiet_off": "Quiet hours are off.",
        "reminder_default": "From now on I'll remind you {minutes} minutes before each new event.",
        "reminder_default_off": "No more automatic reminders before events.",
    },
    "es": {
        "help": "Te puedo ayudar con tu agenda y la hora:\n"
                "• “Dentista el jueves a las 4” o “Agendame almuerzo con Ana mañana a la 1”\n"
                "• “Yoga todos los lunes a las 19 por 90 minutos”\n"
                "• “¿Qué tengo esta semana?” · “¿Estoy libre el viernes a las 3?”\n"
                "• “Pasalo a las 15” · “Cancelá el almuerzo con Ana” · “Cancelá todo lo de mañana”\n"
                "• “¿Cuándo estoy libre mañana?” · “¿Qué hora es?” · “Estoy en Madrid”\n"
                "• “Recordame llamar a Ana mañana a las 9” · “¿Qué recordatorios tengo?”\n"
                "• “Hablame en inglés” para cambiar el idioma",
        "needs_llm": "Perdón, solo puedo ayudarte con tu agenda, la fecha y la hora, y tu zona horaria. "
                     "Probá con “¿Qué tengo mañana?” o escribí “ayuda”.",
        "greeting": "¡Hola! Soy tu asistente.",
        "thanks": "¡De nada!",
        "ack": "Dale 👍 Decime qué querés hacer con tu agenda, o escribí “ayuda”.",
        "only_yours": "Solo puedo ver y cambiar tu propia agenda.",
        "language": "Listo, de ahora en más te respondo en español.",
        "failed_tool": "Perdón, no pude {action}: {error}",
        "created": "Listo: agendé “{summary}” para el {when}.",
        "created_short": "Listo: agendé “{summary}”.",
        "repeats": " Se repite {rule}.",
        "overlaps": "\nOjo, se superpone con:\n{items}",
        "moved": "Listo: “{summary}” quedó para el {when}.",
        "cancelled": "Cancelé “{summary}”.",
        "cancelled_many": "Cancelé {count} eventos:\n{items}",
        "listing": "Esto es lo que tenés {label}:\n{items}",
        "nothing": "No tenés nada en la agenda {label}.",
        "more": "\n(y hay más: pedime un rango más corto para ver el resto)",
        "which": "Hay varios que coinciden. ¿Cuál querés {action}? (decime el número)\n{items}",
        "not_found": "No encontré “{subject}” en tu agenda, así que no hice nada.",
        "not_found_plain": "No encontré “{subject}” en tu agenda en los próximos seis meses.",
        "found": "Es:\n{items}",
        "free": "Estás libre {label}:\n{items}",
        "no_free": "No tenés ninguna hora libre {label} entre las 9:00 y las 18:00.",
        "clock": "Son las {time} del {date} ({zone}).",
        "zone": "Listo: desde ahora uso {zone}. Allá son las {time}.",
        "ask_title": "¿Cómo le pongo al evento? Por ejemplo: “Almuerzo con Ana mañana a la 1”.",
        "ask_time": "¿A qué hora agendo “{subject}”{day}? Por ejemplo: “a las 15”.",
        "ask_day": "¿Para cuándo agendo “{subject}”? Por ejemplo: “mañana a las 15”.",
        "ask_move": "¿Para cuándo muevo “{summary}”?",
        "ask_which": "¿Qué evento querés {action}? Decime el nombre, por ejemplo “{action} el almuerzo con Ana”.",
        "past": "El {when} ya pasó. ¿Igual agendo “{summary}”? (sí/no)",
        "confirm_cancel_all": "¿Cancelo estos {count} eventos {label}? (sí/no)\n{items}",
        "confirm_cancel_one": "¿Cancelo este evento {label}? (sí/no)\n{items}",
        "nothing_to_cancel": "No tenés nada para cancelar {label}.",
        "declined": "Dale, dejé tu agenda como estaba.",
        "busy": "No, a esa hora ({when}) tenés:\n{items}",
        "free_at": "Sí, estás libre el {when}.",
        "retry": "No pude terminar eso recién. ¿Me lo pedís de nuevo?",
        "move": "mover", "cancel": "cancelar", "zone_change": "cambiar tu zona horaria a", "that_change": "eso",
        "confirm_heard": "Quiero estar seguro de haberte entendido: ¿querés {action} {what}? (sí/no)",
        "fail_unclear": "No te entendí bien, ¿me lo escribís?",
        "fail_no_speech": "No escuché ninguna palabra en ese audio. ¿Probás de nuevo o me lo escribís?",
        "fail_too_large": "Ese audio es muy largo para mí. ¿Me mandás uno más corto o me lo escribís?",
        "fail_corrupt_audio": "No pude reproducir ese audio. ¿Lo grabás de nuevo o me lo escribís?",
        "fail_unsupported_type": "No puedo reproducir ese tipo de audio. ¿Me lo mandás como nota de voz o lo escribís?",
        "fail_download_failed": "No pude descargar ese audio. ¿Me lo mandás de nuevo o lo escribís?",
        "fail_engine_unavailable": "Ahora no pude transcribir tu audio. ¿Me lo escribís o probás en un rato?",
        "act_create": "agendar eso", "act_read": "leer tu agenda", "act_check": "revisar tu agenda",
        "act_zone": "cambiar tu zona horaria", "act_move": "moverlo", "act_cancel": "cancelarlo",
        "today": "hoy", "tomorrow": "mañana", "on_day": "el {day}", "week": "esta semana",
        "next_week": "la semana que viene", "weekend": "este fin de semana", "month": "este mes",
        "next_month": "el mes que viene", "next_days": "en los próximos 7 días", "all_day": "todo el día",
        "every_day": "todos los días", "every_week": "todas las semanas", "every_month": "todos los meses",
        "every_year": "todos los años", "every": "todos los {days}", "and": " y ",
        # recordatorios (reminder_render.py)
        "reminder_created": "Hecho: te recordaré «{text}» el {when}.",
        "reminder_created_event": "Hecho: te recordaré «{text}» {minutes} minutos antes, el {when}.",
        "reminder_ask_what": "¿Qué te recuerdo? Por ejemplo: «recordame llamar a Ana mañana a las 9».",
        "reminder_ask_when": "¿Cuándo te recuerdo «{text}»? Por ejemplo: «mañana a las 9» o «en 20 minutos».",
        "reminder_in_past": "Esa hora ya pasó. ¿Cuándo te lo recuerdo?",
        "reminder_none": "No tenés recordatorios.",
        "reminder_list": "Tus recordatorios:",
        "reminder_not_found": "No encuentro ese recordatorio. Preguntá «¿qué recordatorios tengo?» para verlos.",
        "reminder_which": "¿Cuál?",
        "reminder_cancelled": "Cancelé el recordatorio «{text}».",
        "reminder_moved": "Moví el recordatorio «{text}» al {when}.",
        "reminder_which_event": "¿Qué evento? Decime su nombre, p. ej. «recordame 30 minutos antes del dentista».",
        "reminder_failed": "No pude hacerlo: {error}",
        "reminder_ask_quiet": "¿Desde qué hora? Por ejemplo: «no me escribas después de las 10 de la noche».",
        "reminder_quiet": "Entendido: nada de recordatorios entre las {start} y las {end} (tu hora); "
                          "esperarán hasta las {end}.",
        "reminder_quiet_off": "Horas de silencio desactivadas.",
        "reminder_default": "A partir de ahora te recordaré cada nuevo evento {minutes} minutos antes.",
        "reminder_default_off": "Sin recordatorios automáticos antes de los eventos.",
    },
}


def say(language: str, key: str, **values: object) -> str:
    return WORDS.get(language, WORDS["en"])[key].format(**values)


def day_text(day: date, language: str) -> str:
    return f"{_DAYS[language][day.weekday()]} {day.day} {_MONTHS[language][day.month - 1]}"


def long_day(day: date, language: str) -> str:
    return f"{_LONG_DAYS[language][day.weekday()]} {day.day} {_MONTHS[language][day.month - 1]} {day.year}"


def when_text(item: dict, language: str) -> str:
    """An event's time as people say it: "Thu 5 Jun, 13:00–14:00", "vie 6 jun (todo el día)"."""
    try:
        start, end = datetime.fromisoformat(item["start"]), datetime.fromisoformat(item["end"])
    except (KeyError, TypeError, ValueError):
        return str(item.get("when", ""))
    if start.time() == end.time() == datetime.min.time() and end > start:
        last = end.date() - timedelta(days=1)
        days = day_text(start.date(), language) + ("" if last == start.date() else f" – {day_text(last, language)}")
        return f"{days} ({say(language, 'all_day')})"
    if start.date() == end.date():
        return f"{day_text(start.date(), language)}, {start:%H:%M}–{end:%H:%M}"
    return f"{day_text(start.date(), language)}, {start:%H:%M} – {day_text(end.date(), language)}, {end:%H:%M}"


def bullet_list(items: list[dict], language: str, numbered: bool = False) -> str:
    return "\n".join(f"{f'{n}.' if numbered else '•'} {when_text(item, language)}: {item.get('summary', '')}"
                     for n, item in enumerate(items, 1))


def rule_text(rule: str, language: str) -> str:
    text = _rule_text(rule, language)
    if "INTERVAL=2" in rule:
        return ("every other week, " if language == "en" else "cada dos semanas, ") + text
    return text


def _rule_text(rule: str, language: str) -> str:
    from services.agent.offline.when import WEEKDAY_CODES

    if "BYDAY=" in rule:
        codes = rule.split("BYDAY=")[1].split(";")[0].split(",")
        names = [_LONG_DAYS[language][WEEKDAY_CODES.index(c)] + ("s" if language == "en" else "") for c in codes]
        if language == "es":
            names = [n if n.endswith("s") else n + "s" for n in names]
        joined = ", ".join(names[:-1]) + say(language, "and") + names[-1] if len(names) > 1 else names[0]
        return say(language, "every", days=joined) if language == "es" else f"on {joined}"
    frequency = rule.split("FREQ=")[1].split(";")[0].lower()
    key = {"daily": "every_day", "weekly": "every_week", "monthly": "every_month", "yearly": "every_year"}[frequency]
    return say(language, key)


def failed_tool(language: str, action: str, error: str) -> str:
    return say(language, "failed_tool", action=say(language, action), error=error.removeprefix("Error:").strip())


def created(item: dict, overlaps: list[dict], language: str, rule: str | None = None) -> str:
    text = say(language, "created", summary=item["summary"], when=when_text(item, language))
    if rule:
        text += say(language, "repeats", rule=rule_text(rule, language))
    if overlaps:
        text += say(language, "overlaps", items=bullet_list(overlaps, language))
    return text


def listing(items: list[dict], label: str, truncated: bool, language: str) -> str:
    if not items:
        return say(language, "nothing", label=label)
    more = say(language, "more") if truncated else ""
    return say(language, "listing", label=label, items=bullet_list(items, language)) + more


def free(slots: list[str], label: str, language: str, bounds: list | None = None) -> str:
    """Free slots, from their local (start, end) when the tool gave them, else as it wrote them."""
    if not slots:
        return say(language, "no_free", label=label)
    if bounds and len(bounds) == len(slots):
        slots = [when_text({"start": start, "end": end}, language) for start, end in bounds]
    return say(language, "free", label=label, items="\n".join(f"• {slot}" for slot in slots[:8]))
