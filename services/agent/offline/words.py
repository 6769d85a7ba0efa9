"""Text as the offline model reads it: folded (lower case, no accents, same length as what
the user typed, so a span found in one is the same span in the other), and the language
it is written in (English or Spanish)."""

from __future__ import annotations

import re
import unicodedata

LANGUAGES = ("en", "es")

_ES_WORDS = frozenset(
    "que tengo manana hoy el los las del con para por favor una semana turno reunion cumple cumpleanos "
    "hola gracias agendame agenda agendar anotame anota agrega agregame agregar pone poneme cancela cancelame "
    "cancelar borra borrame borrar mueve move pasa pasame cambia cambiame mover eliminar sacame saca "
    "cuando estoy libre hora dia dias lunes martes miercoles jueves viernes sabado domingo proximo proxima "
    "tarde noche mediodia medianoche todos todas cada esta este tiempo ayuda podes puedes quiero necesito "
    "dale si pasado cita almuerzo cena desayuno clase medico dentista partido hacer ver mis mi tenes hay algo "
    "reprograma posterga adelanta atrasa corre correme quita suspende buenas buen buenos dias espanol ingles "
    "despues antes ahora vos che tambien nada quien sos como donde cuanto cuantos genia genio gracias mio mia "
    "sabes haces podes queres contame decime hace hay ninguna ningun tenes estas andas".split()
)
_EN_WORDS = frozenset(
    "the what do have i my with for on at to is am are please tomorrow today tonight schedule add book "
    "move cancel delete remove when free time week next every meeting lunch dinner call thanks hello hi "
    "help can you could would this that it monday tuesday wednesday thursday friday saturday sunday "
    "morning afternoon evening yes no and of in from until appointment birthday all day event show me "
    "anything got does did english spanish".split()
)


KNOWN_WORDS = _ES_WORDS | _EN_WORDS | frozenset("calendar agendar something".split())


def fold(text: str) -> str:
    """`text` in lower case without accents, one character for each of `text`'s."""
    out = []
    for char in text:
        lower = char.lower()
        if len(lower) != 1:
            lower = char
        base = unicodedata.normalize("NFKD", lower)[:1] or lower
        out.append(base if base.isalnum() or lower == base else lower)
    return "".join(out).replace("’", "'")


def detect_language(folded: str) -> str | None:
    """'es' or 'en' when the words say so clearly, else None."""
    words = re.findall(r"[a-z]+", folded)
    es = sum(word in _ES_WORDS for word in words) + (2 if re.search(r"[¿¡]", folded) else 0)
    en = sum(word in _EN_WORDS for word in words)
    if es > en:
        return "es"
    if en > es:
        return "en"
    return None
