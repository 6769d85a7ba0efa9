"""What a message asks for, by rule, in English and Spanish.

`INTENTS` is the specification: an ordered table of (kind, matcher), and the first matcher
that answers wins. The order matters where phrases overlap: a language or time-zone
change before "change …" (move), cancel and move before create (their objects look like
titles), availability before listing, and a request with no verb ("dentist thursday 4pm")
only after every verb and question had its turn. A new intent (say, reminders) is one
row in the table, placed before the first row that would otherwise take its messages.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from services.agent.inputs import FAILED_INPUT
from services.agent.offline.reminders import match_reminder
from services.agent.offline.when import When, parse_when
from services.agent.offline.words import KNOWN_WORDS, detect_language, fold
from services.agent.timezones import resolve_place

_POLITE = re.compile(
    r"^(?:please|pls|plz|ok(?:ay)?|so|and|also|then|hey|now|oh|um+|can you|could you|would you|will you|can u|"
    r"could u|i want to|i wanna|i'd like to|i would like to|i need to|need to|let's|lets|go ahead and|kindly|"
    r"por favor|porfa|porfavor|dale|che|bueno|me podes|podes|podrias|me podrias|puedes|quiero|queria|quisiera|"
    r"necesito|hola|actually|instead|rather|en realidad|mejor|better|no wait|wait|can we|could we|can i|could i|"
    r"shall we|podemos|puedo|podriamos|i need|i want|i'd like|i would like|we need|i'll need|necesitaria)\b[\s,]*"
)
_GREETING = re.compile(r"^(?:hi|hello|hey|hola|holis|buenas|buen dia|buenos dias|buenas tardes|buenas noches|"
                       r"howdy|yo|good (?:morning|afternoon|evening))(?:\s+there)?\b[\s!,.]*(?:(?:what'?s up|whats up|que tal|"
                       r"como (?:andas|estas|va)|todo bien|how are you)\b[\s!,.?]*)?")
_VERBS = {
    "create": r"(?:schedule|add|book|create|put|set up|setup|set(?! (?:my |the )?(?:time ?zone|language|alarm|reminder))|plan|arrange|organi[sz]e|make|note|pencil in|block(?: out| off)?|"
              r"save|insert|enter|agend(?:a(?!\s+(?:de|para|del|hoy|manana)\b)|ame|alo|ar|as)|"
              r"anot(?:a|ame|alo|ar)|agreg(?:a|ame|alo|ar)|pon(?:e|eme|elo|er|me)|crea(?:me|r)?|reserv(?:a|ame|ar)|"
              r"program(?:a|ame|ar)|arm(?:a|ame|ar)|sum(?:a|ame|ar)|guard(?:a|ame|ar)|meteme|mete)",
    "move": r"(?:move|moving|reschedule|re-schedule|postpone|push(?: back)?|shift|change|bring forward|delay|rebook|make it|"
            r"put off|mov(?:e|eme|elo|ela|er)|pas(?:a|ame|alo|ala|ar)|cambi(?:a|ame|alo|ala|ar)|reprogram(?:a|ame|alo|ar)|"
            r"pospon(?:e|eme|elo|er)|posterg(?:a|ame|alo|ar)|corr(?:e|eme|elo|ela|er)|adelant(?:a|ame|alo|ar)|"
            r"atras(?:a|ame|alo|ar)|traslad(?:a|ame|alo|ar))",
    "cancel": r"(?:cancell?(?:l?ed|a|ame|alo|ala|ar)?|delete|remove|drop|call off|clear|scrap|erase|get rid of|unschedule|"
              r"i can'?t make|i cannot make|i won'?t make|borr(?:a|ame|alo|ala|ar)|elimin(?:a|ame|alo|ar)|"
              r"sac(?:a|ame|alo|ala|ar)|quit(?:a|ame|alo|ar)|suspend(?:e|eme|elo|er)|anul(?:a|ame|alo|ar))",
}
_VOCABULARY = ["schedule", "reschedule", "cancel", "delete", "remove", "postpone", "tomorrow", "monday", "tuesday",
               "wednesday", "thursday", "friday", "saturday", "sunday", "appointment", "meeting", "calendar",
               "agendame", "cancelar", "cancela", "miercoles", "viernes", "sabado", "domingo", "martes", "jueves",
               "reunion", "birthday", "cumpleanos", "january", "february", "march", "april", "august", "september",
               "october", "november", "december", "tonight", "afternoon", "morning", "evening", "manana", "almuerzo",
               "reschedule", "dentist", "dentista", "gimnasio", "enero", "febrero", "marzo", "abril", "mayo", "junio",
               "julio", "agosto", "septiembre", "setiembre", "octubre", "noviembre", "diciembre", "lunes", "sabado"]
_BULK = re.compile(r"^(?:all|everything|every event|(?:all (?:of )?)?my (?:events|meetings|appointments|plans)|all events|"
                   r"(?:todas )?mis reuniones|(?:todos )?mis (?:eventos|turnos|planes)|"
                   r"todo|todos|todas|todo lo que tengo|todo lo de|todos mis (?:eventos|turnos|compromisos)|"
                   r"toda (?:mi|la) agenda|mi agenda|my (?:whole )?(?:day|calendar|schedule))\b")
_QUESTION = re.compile(r"\?|^(?:what|whats|when|where|which|who|how|do|does|did|is|are|am|any|que|cuando|donde|como|"
                       r"cual|cuales|tengo algo|hay algo|estoy)\b")
_LIST = re.compile(
    r"\b(?:what'?s on|what is on|whats on|wh?at do i have|what have i got|what'?ve i got|do i have (?:anything|something|any)|"
    r"anything (?:on|planned)|my (?:agenda|calendar|schedule|events|appointments|meetings|plans|day)|list|show (?:me )?my|"
    r"show me|what'?s (?:my|the) (?:agenda|schedule|plan)|am i busy|what'?s (?:happening|going on|planned|coming up)|"
    r"what do i have going on|que (?:hay|tengo) (?:planeado|agendado)|que tengo|tengo algo|que hay|mi (?:agenda|calendario|dia)|"
    r"mis (?:eventos|turnos|reuniones|planes)|mostrame|la agenda|ocupad[oa]|como vengo|como estoy)\b"
)
_LIST_NOUN = re.compile(r"\b(?:agenda|calendar|schedule|events?|appointments?|meetings?|plans|busy|calendario|eventos?|"
                        r"turnos?|reuniones|planes|compromisos)\b")
_AVAILABLE = re.compile(r"\b(?:if i'?m (?:free|available|busy)|if i am (?:free|available|busy)|am i free|are we free|am i available|am i busy|is (?:it|that|my \w+|\w+day) (?:free|open)|"
                        r"free at|(?:do|will) i have (?:anything|something|any\w*) at|estoy libre|estoy disponible|"
                        r"estoy ocupad[oa]|tengo algo a la|tengo algo el|tengo algo manana a|tengo algo hoy a|libre a las|"
                        r"can i (?:fit|book|squeeze))\b")
_FREE = re.compile(r"\b(?:libre|disponible|when am i free|when (?:am i|are we) available|free time|free slots?|open slots?|availability|"
                   r"cuando estoy libre|cuando tengo (?:tiempo|lugar|un hueco)|huecos?|tiempo libre|horarios? libres?|"
                   r"when can i|free)\b")
_TIME = re.compile(r"\bwhat(?:'s| is)? the (?:time|date)\b|\bwhat time is it\b|\bwhat day is (?:it|today)\b|"
                   r"\btoday'?s date\b|\bwhat'?s today\b|\bque hora es\b|\bque dia es(?: hoy)?\b|\bque fecha es\b|"
                   r"\bla hora\b|^time\b|\b(?:what|which|que|cual|en que)\b.*\b(?:time ?zone|zona horaria|huso horario)\b|"
                   r"\bmy time ?zone\b.*\?|^(?:time ?zone|zona horaria)$")
_ZONE = re.compile(
    r"\b(?:i'?m|i am|i'm now|i live|i'm currently|i am currently|i moved|i've moved|i have moved|i'm staying|i am staying|"
    r"estoy|vivo|me mude|me fui|ahora estoy)\s+(?:now\s+|ahora\s+)?(?:in|to|at|en|a)\s+(.+)$|"
    r"\b(?:time ?zone|zona horaria|huso horario)\s+(?:is|to|should be|es|a|en)\s+(.+)$|"
    r"\b(?:set|change|cambia|cambiame|cambiar|pone|poneme)\s+(?:my |mi |la )?(?:time ?zone|zona horaria)\s+(?:to |a |en )?(.+)$"
)
_LANG = re.compile(
    r"\b(?:speak|talk|reply|answer|write|respond|text)\s+(?:to me\s+|me\s+)?(?:in\s+)?(english|spanish)\b|"
    r"\b(?:hablame|habla|hablemos|respondeme|responde|contestame|escribime|escribi)\s+en\s+(espanol|ingles|castellano)\b|"
    r"\b(?:change|switch|set|cambia|cambiar|cambiame|pone|poneme)\s+(?:the |my |el |mi )?(?:language|idioma)\s+(?:to |a |en )?"
    r"(english|spanish|espanol|ingles|castellano)\b|"
    r"^(?:in |en )?(english|spanish|espanol|ingles|castellano)(?: please| por favor| pls)?$"
)
_HELP = re.compile(r"^(?:help|ayuda|\?|menu|commands|comandos|opciones)\b|\bwhat can you do\b|\bhow does this work\b|"
                   r"\bwho are you\b|\bque (?:podes|puedes|sabes) hacer\b|\bcomo funciona\b|\bquien sos\b|\bque haces\b")
_THANKS = re.compile(r"^(?:thanks|thank you|thx|ty|cheers|great|perfect|cool|awesome|nice|ok thanks|gracias|muchas gracias|"
                     r"genial|perfecto|buenisimo|joya|barbaro|listo|dale gracias|ok|okay|k|dale|bueno|de una|"
                     r"👍|🙏)(?:[\s,!]+[\w!]+){0,3}[\s!.]*$")
YES = re.compile(r"^(?:y|yes|yeah|yep|yup|sure|ok|okay|confirm|confirmed|correct|right|go ahead|do it|please do|of course|"
                 r"si|sí|dale|claro|confirmo|correcto|hacelo|de una|obvio|👍)\b")
NO = re.compile(r"^(?:n|no|nope|nah|don'?t|do not|never ?mind|cancel|stop|leave it|no thanks|mejor no|dejalo|deja|para)\b")
_FILLER = re.compile(
    r"^(?:a |an |the |my |new |event |meeting called |an event called |event called |called |for |on |at |to |"
    r"un |una |el |la |los |las |mi |nuevo |nueva |evento |llamado |que se llama |para |de |i have |i've got |"
    r"ive got |tengo |hay |it |that |in |en |me |us |que |about |sobre |with |es |is |my$|mi$|the$|el$|la$|it$)+|"
    r"(?: on| at| for| to| in| from| my| calendar| in my calendar| to my calendar| on my calendar| please| el| la| a| a las|"
    r" a la| para| por favor| porfa| en| en mi agenda| en el calendario| en la agenda| de| del| at the| for the| on the|"
    r" this| next| el proximo| que viene| by| around| starting| tipo| y| and| with| es| is| will be| sera)+$"
)
_PRONOUN = re.compile(r"^(?:it|that|this|that one|this one|the event|the meeting|the appointment|lo|la|eso|ese|esa|"
                      r"el evento|la reunion|el turno|)$")


@dataclass
class Text:
    """One request: as typed (`original`) and folded, the same length, and when it names."""

    original: str
    folded: str
    when: When
    now: datetime
    order: str
    asked: bool = False  # the message was a question ("?" or "¿")

    def part(self, start: int, end: int) -> Text:
        """`[start:end]` of this text, read again on its own."""
        original, folded = self.original[start:end], self.folded[start:end]
        return Text(original, folded, parse_when(folded, self.now, self.order), self.now, self.order, self.asked)


@dataclass
class Intent:
    kind: str  # see INTENTS; also greet, failed
    text: str  # the folded request
    when: When = field(default_factory=When)
    subject: str = ""  # what the event is called (create), or which one (move, cancel)
    place: str = ""
    language: str | None = None  # what the message is written in, if it says
    target: When | None = None  # move: the new time; `when` then says which event
    events: list[dict] = field(default_factory=list)  # the events a follow-up answer chose
    calls: list[dict] = field(default_factory=list)  # calls the user confirmed ({"name", "args"})
    shift_minutes: int = 0  # move: "push it back 30 minutes", "adelantalo una hora"
    minutes: int | None = None  # reminders: how long before an event (0: no default reminder)
    side: str = ""  # quiet hours: "start", "end", "both" or "off"
    phrase: str = ""  # reminders: the words that say when


def _subject(t: Text, verb_end: int = 0) -> str:
    """What is left once the verb and every part that said when are taken out."""
    keep = [True] * len(t.original)
    for start, end in [(0, verb_end), *t.when.spans]:
        for i in range(max(0, start), min(end, len(keep))):
            keep[i] = False
    original = "".join(c if k else " " for c, k in zip(t.original, keep, strict=True))
    folded = "".join(c if k else " " for c, k in zip(t.folded, keep, strict=True))
    original, folded = re.sub(r"\s+", " ", original), re.sub(r"\s+", " ", folded)
    original, folded = original.strip(" ,.!?¿¡:;-"), folded.strip(" ,.!?¿¡:;-")
    previous = None
    while previous != folded:
        previous = folded
        for m in _FILLER.finditer(folded):
            if m.group(0):
                original, folded = original[:m.start()] + original[m.end():], folded[:m.start()] + folded[m.end():]
                break
        original, folded = original.strip(" ,.!?¿¡:;-"), folded.strip(" ,.!?¿¡:;-")
    original = original.strip(" \"'“”‘’«»")
    if fold(original) in ("my", "mi", "the", "el", "la", "it", "lo", "mis", "me"):
        return ""
    return original[:1].upper() + original[1:] if original else ""


def _verb(kind: str, t: Text) -> re.Match[str] | None:
    return re.match(_VERBS[kind] + r"\b", t.folded)


def _language(t: Text) -> Intent | None:
    if m := _LANG.search(t.folded):
        word = next(g for g in m.groups() if g)
        return Intent("language", t.folded, language="en" if word in ("english", "ingles") else "es")
    return None


def _zone(t: Text) -> Intent | None:
    if m := _ZONE.search(t.folded):
        start = next(m.start(i) for i in range(1, 4) if m.group(i))
        place = re.sub(r"\b(?:now|today|these days|for now|at the moment|ahora|hoy|por ahora)\b", "", t.original[start:])
        place = "".join(c for c in unicodedata.normalize("NFKD", place.strip(" .!?¿¡")) if not unicodedata.combining(c))
        if place and resolve_place(fold(place)):
            return Intent("zone", t.folded, place=place)
    return None


def _match(kind: str, pattern: re.Pattern[str]) -> Callable[[Text], Intent | None]:
    def matcher(t: Text) -> Intent | None:
        return Intent(kind, t.folded) if pattern.search(t.folded) else None
    return matcher


def _remind(t: Text) -> Intent | None:
    """Reminders, quiet hours, STOP / START (services/agent/offline/reminders.py)."""
    core = t.original.lower()  # the reminder rules read accents ("recuérdame", "mañana")
    if (found := match_reminder(core, t.now)) is None:
        return None
    return Intent(found.kind, core, subject=_restore_case(found.subject, t.original), language=found.language,
                  minutes=found.minutes, side=found.side, phrase=found.phrase)


def _restore_case(subject: str, original: str) -> str:
    """"call mom" back to "call Mom", word by word from what the user typed."""
    words = {word.lower(): word for word in re.findall(r"[\w'-]+", original)}
    return re.sub(r"[\w'-]+", lambda m: words.get(m.group(0), m.group(0)), subject)


def _cancel(t: Text) -> Intent | None:
    if not (m := _verb("cancel", t)):
        return None
    rest = t.folded[m.end():].strip()
    if _BULK.match(rest) or not _subject(t, m.end()) and t.when.anything and not t.when.at and not _PRONOUN.match(rest):
        return Intent("cancel_all", t.folded, t.when)
    return Intent("cancel", t.folded, t.when, _subject(t, m.end()))


_SHIFT = re.compile(r"\b(?:by\s+)?(\d+|an?|one|half an|una|un|media)\s*(hours?|hrs?|h|minutes?|mins?|horas?|hs|minutos?)\b")
_EARLIER = re.compile(r"\b(?:earlier|forward|sooner|before|antes|adelant\w*|mas temprano)\b")


def _shift(t: Text) -> int:
    if not (m := _SHIFT.search(t.folded)) or re.search(r"\b(?:in|en|dentro de)\s+$", t.folded[:m.start()]):
        return 0
    amount = {"a": 1, "an": 1, "one": 1, "una": 1, "un": 1, "half an": 0.5, "media": 0.5}.get(m.group(1))
    minutes = round((amount or float(m.group(1))) * (60 if m.group(2).startswith("h") else 1))
    return -minutes if _EARLIER.search(t.folded) else minutes


def _move(t: Text) -> Intent | None:
    if not (m := _verb("move", t)):
        return None
    if shift := _shift(t):
        which = t.part(0, _SHIFT.search(t.folded).start())  # type: ignore[union-attr]
        return Intent("move", t.folded, which.when, re.sub(r"(?i)\s*\b(?:back|forward|ahead|para atras)$", "",
                                                           _subject(which, m.end())), shift_minutes=shift)
    # "move the dentist on friday to 3pm": before " to "/" a " is which event, after is when
    split = re.search(r"\s(?:to|a|para|al|for|until|till|hasta)\s(?=.*(?:\d|noon|tomorrow|manana|hoy|today|next|"
                      r"proxim|mon|tue|wed|thu|fri|sat|sun|lunes|martes|miercoles|jueves|viernes|sabado|domingo|"
                      r"mediodia|la tarde|la noche|la manana))", t.folded[m.end():])
    if split:
        cut = m.end() + split.start()
        which, new = t.part(0, cut), t.part(cut, len(t.folded))
        return Intent("move", t.folded, which.when, _subject(which, m.end()), target=new.when)
    subject = re.sub(r"(?i)\s*\b(?:instead|then|rather|en su lugar|mejor)\b", "", _subject(t, m.end())).strip()
    if bare := re.fullmatch(r"(?:at\s+|a las?\s+)?(\d{1,2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?)", fold(subject)):
        return Intent("move", t.folded, When(), "", target=parse_when(f"at {bare.group(1)}", t.now, t.order))
    return Intent("move", t.folded, When(), subject, target=t.when)


_PLACEHOLDER = re.compile(r"(?i)^(?:something|an? event|event|an? appointment|a thing|algo|un evento|evento|una cosa|"
                          r"un turno|una cita|it|eso)$")


def _create(t: Text) -> Intent | None:
    if m := _verb("create", t):
        subject = _subject(t, m.end())
        return Intent("create", t.folded, t.when, "" if _PLACEHOLDER.match(fold(subject)) else subject)
    return None


_FREE_WORD = re.compile(r"\b(?:free|available|busy|libre|disponible|ocupad[oa])\b")


def _available(t: Text) -> Intent | None:
    asks = _AVAILABLE.search(t.folded) or (t.asked or _QUESTION.search(t.folded)) and _FREE_WORD.search(t.folded)
    if asks and (t.when.at or t.when.moment):
        return Intent("check", t.folded, t.when)
    return None


def _free(t: Text) -> Intent | None:
    if _FREE.search(t.folded) and (t.asked or _QUESTION.search(t.folded) or "free" not in t.folded.split()):
        return Intent("free", t.folded, t.when)
    return None


_WHEN_IS = re.compile(r"^(?:when(?:'s| is| are| was| do i have)|what day is|what time is|cuando (?:es|son|tengo|era|fue)|"
                      r"que dia (?:es|tengo)|a que hora (?:es|tengo))\s+(?!it\b)(.+)$")


def _when_is(t: Text) -> Intent | None:
    """"When is my dentist appointment?", "¿cuándo es el turno médico?": find it by name."""
    if not (m := _WHEN_IS.match(t.folded)):
        return None
    subject = _subject(t, m.start(1))
    return Intent("find", t.folded, t.when, subject) if subject else None


def _list(t: Text) -> Intent | None:
    question = t.asked or _QUESTION.search(t.folded)
    if _LIST.search(t.folded) or question and (_LIST_NOUN.search(t.folded) or t.when.anything and not _subject(t)):
        return Intent("list", t.folded, t.when)
    return None


_EVENT_WORD = re.compile(
    r"\b(?:dentist|doctor|appointment|meeting|call|lunch|dinner|breakfast|brunch|gym|class|lesson|interview|party|flight|"
    r"haircut|workout|yoga|practice|game|match|review|standup|sync|demo|presentation|workshop|session|therapy|"
    r"reunion|turno|medico|dentista|almuerzo|cena|desayuno|clase|gimnasio|entrevista|fiesta|vuelo|peluqueria|partido|"
    r"llamada|cita|consulta|taller|sesion|terapia|odontologo|psicologo|psicologa|kinesiologo|asado|cumple|"
    r"cumpleanos|birthday)\b")


_STATUS = re.compile(r"^(?:i'?m|i am|im|i was|i had|i just|we'?re|it'?s|it was|that'?s|this is|he'?s|she'?s|"
                     r"estoy|estaba|estamos|soy|es|era|fue|tuve|tengo que)\b")


def _implicit_create(t: Text) -> Intent | None:
    """A title and a when, and no question: "dentist thursday 4pm", "cumple de Ana el 5 de junio"."""
    if not (t.when.day or t.when.at or t.when.recurrence or t.when.moment or t.when.birthday or t.when.span):
        if not (_EVENT_WORD.search(t.folded) and len(t.folded.split()) <= 6) or _STATUS.match(t.folded):
            return None
    if (t.asked or _QUESTION.search(t.folded)) and not re.match(r"^(?:i have|i've got|tengo)\b", t.folded):
        return None
    subject = _subject(t)
    if not re.search(r"[^\W\d_]{2,}", subject) or re.fullmatch(r"(?i)(?:algo|nada|libre|free|busy|anything)", subject):
        return None
    return Intent("create", t.folded, t.when, subject)


INTENTS: list[tuple[str, Callable[[Text], Intent | None]]] = [
    ("language", _language),
    ("zone", _zone),
    ("thanks", _match("thanks", _THANKS)),
    ("help", _match("help", _HELP)),
    ("remind", _remind),  # reminders before cancel, move and create: "cancel the reminder …" is not an event
    ("cancel", _cancel),  # also "cancel_all": "cancel everything tomorrow"
    ("move", _move),
    ("create", _create),
    ("time", _match("time", _TIME)),
    ("find", _when_is),  # "when is my dentist appointment?"
    ("check", _available),  # "am I free friday at 3?": yes, or the clash
    ("free", _free),
    ("list", _list),
    ("create", _implicit_create),  # no verb: "gym friday 7am"
    ("ack", _match("ack", re.compile(r"^(?:y|yes|yeah|yep|sure|si|no|nope|nah|claro)\b[\s!.]*$"))),  # nothing was asked
]
"""The intents in the order they are tried; the first match wins (see the module doc)."""


def fix_typos(original: str, folded: str) -> tuple[str, str]:
    """Misspelt keywords ("tomorow", "wensday", "cancell") spelt right, in both copies."""
    out_original, out_folded, last = [], [], 0
    for m in re.finditer(r"[a-z]{5,}", folded):
        word = m.group(0)
        if word in KNOWN_WORDS or any(word.startswith(known) for known in _VOCABULARY) or \
                any(re.fullmatch(verb, word) for verb in _VERBS.values()):
            continue
        close = difflib.get_close_matches(word, _VOCABULARY, n=1, cutoff=0.8 if len(word) > 5 else 0.84)
        if close:
            out_original.append(original[last:m.start()] + close[0])
            out_folded.append(folded[last:m.start()] + close[0])
            last = m.end()
    return "".join(out_original) + original[last:], "".join(out_folded) + folded[last:]


_HOURS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
          "eleven": 11, "twelve": 12, "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6,
          "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12}
_MINUTES = {"fifteen": 15, "thirty": 30, "forty five": 45, "forty-five": 45, "o five": 5, "twenty": 20}
_SPOKEN_TIME = re.compile(
    rf"\b(at|a las|a la|las|la|@)\s+({'|'.join(_HOURS)})(?:\s+({'|'.join(_MINUTES)}))?\b|"
    rf"\b({'|'.join(_HOURS)})(?:\s+({'|'.join(_MINUTES)}))?(?=\s*(?:[ap]\.?\s?m\b|o'?clock|de la (?:manana|tarde|noche)))"
)


def spoken_times(original: str, folded: str) -> tuple[str, str]:
    """Hours said in words, as speech is transcribed ("at three thirty", "a las diez") in digits."""
    out_original, out_folded, last = [], [], 0
    for m in _SPOKEN_TIME.finditer(folded):
        hour, minute = (m.group(2), m.group(3)) if m.group(2) else (m.group(4), m.group(5))
        digits = f"{_HOURS[hour]}:{_MINUTES[minute]:02d}" if minute else str(_HOURS[hour])
        replaced = f"{m.group(1)} {digits}" if m.group(1) else digits
        out_original.append(original[last:m.start()] + replaced)
        out_folded.append(folded[last:m.start()] + replaced)
        last = m.end()
    return "".join(out_original) + original[last:], "".join(out_folded) + folded[last:]


def read_text(message: str, now: datetime, date_order: str) -> Text:
    original = re.sub(r"\s+", " ", message.replace("’", "'")).strip()
    original, folded = spoken_times(*fix_typos(original, fold(original)))
    return Text(original, folded, parse_when(folded, now, date_order), now, date_order)


_OBJECT_FIRST = re.compile(
    r"^(?P<obj>.+?)[\s,:;-]+(?P<verb>(?:move|cancel|delete|reschedule|push|postpone|remove) it|"
    r"(?:pas|mov|camb|cancel|borr|sac|pospon|posterg|corr|adelant|atras|elimin)[a-z]*?l[oa])\b"
)


def classify(message: str, now: datetime, date_order: str = "DMY") -> Intent:
    """One request (no greeting in front) -> its intent; `freeform` if no row matches."""
    original = message.strip()
    folded = fold(original)
    while (polite := _POLITE.match(folded)) and polite.end() > 0 and folded[polite.end():].strip(" ?!.¿¡"):
        original, folded = original[polite.end():], folded[polite.end():]
    if m := _OBJECT_FIRST.match(folded):  # "la reunión de las 9 pasala a las 10", "the dentist, cancel it"
        verb = re.sub(r"(?:l[oa]| it)$", "", m.group("verb"))
        original = f"{verb} {original[:m.end('obj')]}{original[m.end('verb'):]}"
    t = read_text(original.strip(" ?!.¿¡"), now, date_order)
    t.asked = "?" in message or "¿" in message
    language = detect_language(fold(message))
    for _, matcher in INTENTS:
        if (intent := matcher(t)) is not None:
            intent.language = intent.language or language  # a reminder may know better (reminders.language_of)
            return intent
    return Intent("freeform", t.folded, t.when, language=language)


def parse_intents(message: str, now: datetime, date_order: str = "DMY") -> list[Intent]:
    """The requests in one message (a greeting in front counts as its own)."""
    failed = [Intent("failed", m.group(3), subject=m.group(2)) for m in FAILED_INPUT.finditer(message)]
    message = FAILED_INPUT.sub(" ", message).replace("🎤", " ")
    text = re.sub(r"\s+", " ", message).strip()
    if not text.strip(" !.") and failed:
        return failed
    intents: list[Intent] = []
    greeting = _GREETING.match(fold(text))
    language = detect_language(fold(text))
    if greeting:
        intents.append(Intent("greet", greeting.group(0).strip(" !,."), language=language))
        text = text[greeting.end():]
    text = text.strip(" !.")
    if not text:
        return (intents or [Intent("greet", "hi", language=language)]) + failed
    return intents + [classify(text, now, date_order)] + failed
