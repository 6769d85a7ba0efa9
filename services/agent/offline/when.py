"""Reading when out of what people type, in English and Spanish: "tomorrow at 3pm",
"dentist thursday 4", "el 5 de junio de 10 a 12", "every monday", "for 90 min".

Works on folded text (`words.fold`: lower case, no accents). Each part is found in a fixed
order, and a later part never reuses text an earlier one took: recurrence, all-day, a
duration, a relative moment ("in 2 hours"), a time range, a time, a day, a part of the
day, a span of days ("next week"). Calendar dates with month names go to `dateparser`
(both languages); numeric dates follow the user's country (`date_order` "MDY" or "DMY").

Rules worth knowing: an hour without am/pm is `bare` (the planner picks the next sensible
daytime occurrence); "next Friday", "on Friday" and "el viernes" mean the first Friday after
today, "this Friday" includes today; a day of the month alone ("the 3rd", "el 15") that has
passed this month means next month; a named date that passed this year means next year
unless a year is given (then it may be in the past, and the planner asks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import dateparser

WEEKDAY_CODES = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
_EN_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_ES_DAYS = ["lunes", "martes", "miercoles", "jueves", "viernes", "sabado", "domingo"]
_WD = (r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:s|nesday)?|thu(?:rs?(?:day)?)?|fri(?:day)?|sat(?:urday)?|"
       r"sun(?:day)?|lunes|martes|miercoles|jueves|viernes|sabados?|domingos?)")
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|enero|ene|febrero|marzo|abril|abr|mayo|junio|julio|agosto|ago|"
          r"septiembre|setiembre|set|octubre|noviembre|diciembre|dic)")
_NUM_WORDS = {"a": 1, "an": 1, "one": 1, "un": 1, "una": 1, "uno": 1, "two": 2, "dos": 2, "three": 3, "tres": 3,
              "four": 4, "cuatro": 4, "five": 5, "cinco": 5, "half an": 0.5, "media": 0.5}
_NUM = r"(\d+(?:[.,]\d+)?|an?|one|two|three|four|five|una|uno|un|dos|tres|cuatro|cinco)"
_UNIT = r"(hours?|hrs?|h|horas?|hs|minutes?|mins?|min|minutos?|m)"


def weekday_index(word: str) -> int:
    for index, (en, es) in enumerate(zip(_EN_DAYS, _ES_DAYS, strict=True)):
        if es.startswith(word[:5]) or en.startswith(word[:3]):
            return index
    raise ValueError(word)


@dataclass
class When:
    day: date | None = None
    explicit_date: bool = False  # a calendar date the user named ("june 5", "20/11")
    at: time | None = None
    until: time | None = None  # the end of a range ("9am-5pm", "de 10 a 12")
    bare: bool = False  # an hour without am/pm ("at 4", "a las 8"): read as daytime
    duration_minutes: int | None = None
    all_day: bool = False
    recurrence: str | None = None  # an RRULE without the prefix, e.g. "FREQ=WEEKLY;BYDAY=MO"
    period: str | None = None  # morning, afternoon, evening
    moment: datetime | None = None  # exact, from "in 2 hours"
    span: str | None = None  # week, next_week, weekend, month, next_month (listing)
    birthday: bool = False  # a birthday or anniversary, or a day off: all day unless a time is given
    yearly: bool = False  # a birthday or anniversary repeats every year
    spans: list[tuple[int, int]] = field(default_factory=list)

    def strip(self, text: str) -> str:
        """`text` without the parts that said when."""
        kept, last = [], 0
        for start, end in sorted(self.spans):
            if start >= last:
                kept.append(text[last:start])
                last = end
        kept.append(text[last:])
        return re.sub(r"\s+", " ", " ".join(kept)).strip()

    @property
    def anything(self) -> bool:
        return bool(self.day or self.at or self.moment or self.recurrence or self.all_day or self.span)


class _Reader:
    def __init__(self, text: str, now: datetime, date_order: str):
        self.text, self.now, self.today, self.order = text, now, now.date(), date_order
        self.when = When()

    def masked(self) -> str:
        """The text with what was already taken blanked out (same length)."""
        text = self.text
        for start, end in self.when.spans:
            text = text[:start] + "|" * (end - start) + text[end:]
        return text

    def find(self, pattern: str | re.Pattern[str]) -> re.Match[str] | None:
        return re.search(pattern, self.masked())

    def take(self, match: re.Match[str]) -> None:
        self.when.spans.append(match.span())


def parse_when(text: str, now: datetime, date_order: str = "DMY") -> When:
    """Find when in folded `text`; `now` is the user's naive local time."""
    reader = _Reader(text, now, date_order)
    for step in (_recurrence, _all_day, _duration, _relative, _dates_span, _range, _day, _time, _period, _span):
        step(reader)
    when = reader.when
    if when.recurrence and when.day is None and (days := re.search(r"BYDAY=([\w,]+)", when.recurrence)):
        ahead = min((WEEKDAY_CODES.index(code) - reader.today.weekday()) % 7 for code in days.group(1).split(","))
        when.day = reader.today + timedelta(days=ahead)
    return when


def _recurrence(r: _Reader) -> None:
    many = rf"{_WD}s?(?:\s*(?:,|and|y|&)\s*{_WD}s?)*"
    if m := r.find(rf"\b(?:every|each)\s+(?:single\s+)?(other\s+|second\s+|2\s+)?({many}|days?|weekdays?|weeks?|months?|years?)\b"):
        r.when.recurrence = _rule(m.group(2).rstrip("s") if m.group(2).endswith(("days", "weeks", "months", "years"))
                                  and not m.group(2).startswith(("wednes", "thurs", "tues")) else m.group(2))
        if m.group(1):
            r.when.recurrence += ";INTERVAL=2"
    elif m := r.find(r"\b(?:cada\s+(?:dos|2)|every\s+(?:two|2))\s+(semanas|weeks)\b"):
        r.when.recurrence = "FREQ=WEEKLY;INTERVAL=2"
    elif m := r.find(rf"\b(?:todos los|todas las|cada)\s+({many}|dias?|semanas?|mes(?:es)?|anos?)\b"):
        r.when.recurrence = _rule(m.group(1))
    elif m := r.find(r"\b(daily|everyday|diariamente|weekly|semanalmente|monthly|mensualmente|yearly|annually)\b"):
        r.when.recurrence = _rule(m.group(1))
    elif m := r.find(r"\b(?:on\s+)?((?:mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays)"
                     r"(?:\s*(?:,|and|&)\s*(?:mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays))*)\b"):
        r.when.recurrence = _rule(m.group(1))
    elif m := r.find(r"\blos\s+((?:lunes|martes|miercoles|jueves|viernes|sabados|domingos)"
                     r"(?:\s*(?:,|y)\s*(?:los\s+)?(?:lunes|martes|miercoles|jueves|viernes|sabados|domingos))*)\b"):
        r.when.recurrence = _rule(m.group(1))
    elif m := r.find(r"\b(?:weekdays|de lunes a viernes|monday (?:to|through|thru) friday|dias de semana)\b"):
        r.when.recurrence = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    else:
        return
    r.take(m)


def _rule(words: str) -> str:
    simple = {"day": "DAILY", "dia": "DAILY", "dias": "DAILY", "daily": "DAILY", "everyday": "DAILY",
              "diariamente": "DAILY", "week": "WEEKLY", "weekly": "WEEKLY", "semana": "WEEKLY", "semanas": "WEEKLY",
              "semanalmente": "WEEKLY", "month": "MONTHLY", "monthly": "MONTHLY", "mes": "MONTHLY",
              "meses": "MONTHLY", "mensualmente": "MONTHLY", "year": "YEARLY", "yearly": "YEARLY",
              "annually": "YEARLY", "ano": "YEARLY", "anos": "YEARLY"}
    if words in simple:
        return f"FREQ={simple[words]}"
    if words == "weekday":
        return "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    days = sorted({weekday_index(w) for w in re.findall(_WD, words)})
    return "FREQ=WEEKLY;BYDAY=" + ",".join(WEEKDAY_CODES[d] for d in days)


def _all_day(r: _Reader) -> None:
    if m := r.find(r"\b(?:all[- ]day|the whole day|whole day|todo el dia|el dia entero|dia completo)\b"):
        r.when.all_day = True
        r.take(m)
    if re.search(r"\b(?:birthday|bday|b-day|cumple|cumpleanos|anniversary|aniversario)\b", r.text):
        r.when.birthday = r.when.yearly = True
    elif re.search(r"\b(?:holiday|vacation|day off|feriado|vacaciones|dia libre|franco)\b", r.text):
        r.when.birthday = True  # whole days unless a time is given, as birthdays (not repeating)


def _number(word: str) -> float:
    return _NUM_WORDS.get(word) or float(word.replace(",", "."))


def _duration(r: _Reader) -> None:
    found = None
    if m := r.find(r"\b(?:for\s+)?(?:an?|one|1)\s+hour and a half\b|\b(?:por\s+|durante\s+|de\s+)?(?:una|1)\s+hora y media\b"):
        found, minutes = m, 90
    elif m := r.find(r"\b(?:for\s+|por\s+|durante\s+|de\s+)?(?:half an hour|media hora)\b"):
        found, minutes = m, 30
    elif m := r.find(r"\b(?:for\s+|por\s+|durante\s+|de\s+)?(\d{1,2})\s*h\s*(\d{2})\b"):
        found, minutes = m, int(m.group(1)) * 60 + int(m.group(2))
    elif m := r.find(rf"\b(?:for|por|durante|de)\s+{_NUM}\s*-?\s*{_UNIT}\b|\b{_NUM}\s*-\s*{_UNIT}\b|"
                     rf"\b(\d+(?:[.,]\d+)?)\s*{_UNIT}(?=\s+(?:long\b|[a-z]))(?!\s+(?:ago|before|early|late|later|antes|despues)\b)"):
        amount = m.group(1) or m.group(3) or m.group(5)
        unit = m.group(2) or m.group(4) or m.group(6)
        if amount is None or unit is None or (unit in ("m", "h") and not m.group(1)):
            return
        found, minutes = m, round(_number(amount) * (60 if unit.startswith("h") else 1))
    if found is not None and 1 <= minutes <= 24 * 60:
        r.when.duration_minutes = minutes
        r.take(found)


def _relative(r: _Reader) -> None:
    m = r.find(rf"\b(?:in|en|dentro de)\s+(?:the\s+next\s+)?{_NUM}\s*{_UNIT}\b|\b(?:in|en|dentro de)\s+(half an hour|media hora)\b")
    if m and (m.group(3) or m.group(2)):
        minutes = 30 if m.group(3) else _number(m.group(1)) * (60 if m.group(2).startswith("h") else 1)
        r.when.moment = (r.now + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
        r.when.day, r.when.at = r.when.moment.date(), r.when.moment.time()
        r.take(m)
        return
    if m := r.find(r"\b(?:in|en|dentro de)\s+(\d{1,3}|a|one|two|three|un|una|dos|tres)\s+(days?|dias?|weeks?|semanas?)\b"):
        count = int(_number(m.group(1)))
        r.when.day = r.today + timedelta(days=count * (7 if m.group(2)[0] in "ws" else 1))
        r.take(m)


_T = (r"(\d{1,2})(?!\d)(?:[:.]([0-5]\d))?(?:\s*([ap])\.?\s?m\b\.?|([ap])\b|\s*(?:hs|hrs|h)\b)?"
      r"(\s+(?:de la (?:manana|tarde|noche)|in the (?:morning|afternoon|evening)|at night|por la (?:manana|tarde|noche)))?")
_NOT_TIME = (r"(?!\s*(?:/|-\d|days?|dias?|weeks?|semanas?|months?|meses|years?|anos|people|personas|minutes?|minutos?|"
             r"mins?|hours?|horas?|%|st\b|nd\b|rd\b|th\b|de\s+" + _MONTH + r"))")


def _clock(hour: str, minute: str | None, ap: str | None, period: str | None) -> tuple[time, bool] | None:
    h, m = int(hour), int(minute or 0)
    bare = False
    if ap:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if ap == "p" else 0)
    elif period:
        if any(p in period for p in ("tarde", "noche", "afternoon", "evening", "night")) and h < 12:
            h += 12
        elif "man" in period or "morning" in period:
            h = h % 12
    elif 1 <= h <= 12 and not hour.startswith("0"):
        bare = True
    if h > 23:
        return None
    return time(h, m), bare


def _range(r: _Reader) -> None:
    m = r.find(rf"(?:\b(?:from|between|de|desde|entre)\s+(?:las\s+|la\s+)?)?(?<![\d/.-])\b{_T}\s*(?:-|–|to|till|until|and|a|hasta|y)\s*"
               rf"(?:las\s+|la\s+)?{_T}" + _NOT_TIME)
    if not m:
        return
    introduced = re.match(r"\s*(?:from|between|de|desde|entre)\b", m.group(0))
    plain_first = not (m.group(2) or m.group(3) or m.group(4) or m.group(5))
    if not introduced and plain_first and re.search(r"\d\s+(?:a|y)\s+las?\s", m.group(0)) and \
            re.search(rf"(?:{_WD}|\bel|\bthe|\bon|\bdia|{_MONTH})\s*$", r.text[:m.start()]):
        return  # "el martes 17 a las 19:30": a day of the month, then a time
    first_ap = m.group(3) or m.group(4)
    second_ap = m.group(8) or m.group(9)
    first_period, second_period = m.group(5), m.group(10)
    cue = (re.match(r"\s*(?:from|between|de|desde|entre)\b", m.group(0)) or first_ap or second_ap or m.group(2)
           or m.group(7) or re.search(r"\d\s*[-–]\s*\d", m.group(0)))
    if not cue:
        return
    start = _clock(m.group(1), m.group(2), first_ap or (second_ap if int(m.group(1)) <= int(m.group(6)) else None),
                   first_period or second_period)
    end = _clock(m.group(6), m.group(7), second_ap, second_period or first_period)
    if start is None or end is None:
        return
    (at, bare), (until, _) = start, end
    if bare and until.hour >= 12 and at.hour + 12 <= until.hour:
        at, bare = time(at.hour + 12, at.minute), False  # "2-4pm"
    if until <= at and until.hour < 12:
        until = time(until.hour + 12, until.minute)  # "9-5", "de 10 a 2"
    if until <= at:
        return
    r.when.at, r.when.until, r.when.bare = at, until, bare and until.hour < 13
    if r.when.bare and at.hour <= 7:
        r.when.at, r.when.bare = time(at.hour + 12, at.minute), False
        if until <= r.when.at:
            r.when.until = time(min(until.hour + 12, 23), until.minute)
    r.take(m)


def _time(r: _Reader) -> None:
    if r.when.at is not None:
        return
    if m := r.find(r"\b(?:at\s+|a las?\s+|al\s+)?(noon|midday|mediodia|midnight|medianoche)\b"):
        r.when.at = time(12) if m.group(1) in ("noon", "midday", "mediodia") else time(0)
        r.take(m)
        return
    if m := r.find(r"\b(?:at\s+|@\s*)?(half past|quarter past|quarter to)\s+(\d{1,2})\b"):
        hour = int(m.group(2)) - (1 if m.group(1) == "quarter to" else 0)
        minute = {"half past": 30, "quarter past": 15, "quarter to": 45}[m.group(1)]
        r.when.at, r.when.bare = time(hour % 24, minute), True
        r.take(m)
        return
    pattern = (rf"(\b(?:at|around|by|from|to|para las|para la|a las|a la|las|para las|tipo|sobre las|desde las|hasta las)\s+|@\s*)?\b{_T}"
               r"(\s+(?:y media|y cuarto|menos cuarto|en punto|o'?clock))?" + _NOT_TIME)
    for m in re.finditer(pattern, r.masked()):
        ap = m.group(4) or m.group(5)
        after_day = any(e <= m.start() and not r.text[e:m.start()].strip(" ,") for _, e in r.when.spans[-1:])
        if not (m.group(1) or ap or m.group(3) or m.group(6) or m.group(7) or re.search(r"\d\s*h", m.group(0))
                or (after_day and r.when.day is not None)):
            continue
        found = _clock(m.group(2), m.group(3), ap, m.group(6))
        if found is None:
            continue
        at, bare = found
        fraction = (m.group(7) or "").strip()
        if fraction in ("y media", "y cuarto"):
            at = time(at.hour, 30 if fraction == "y media" else 15)
        elif fraction == "menos cuarto":
            at = time((at.hour - 1) % 24, 45)
        r.when.at, r.when.bare = at, bare
        r.take(m)
        return


def _dates_span(r: _Reader) -> bool:
    """"del 1 al 15 de julio", "july 1-15", "from june 20 to 22": whole days."""
    m = r.find(rf"\b(?:del?|from|desde(?: el)?)?\s*(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:al?|to|until|through|thru|hasta(?: el)?|-|–)"
               rf"\s*(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:de\s+|of\s+)?({_MONTH})\b|"
               rf"\b(?:from\s+)?({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:-|–|to|until|through|thru)\s*(\d{{1,2}})\b")
    if not m:
        return False
    first, last, month = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(5), m.group(6), m.group(4))
    start, end = _named_date(f"{first} {month}", r.today), _named_date(f"{last} {month}", r.today)
    if start is None or end is None or end < start:
        return False
    r.when.day, r.when.explicit_date, r.when.all_day = start, True, True
    r.when.duration_minutes = ((end - start).days + 1) * 24 * 60
    r.take(m)
    return True


def _weekday_and_date(r: _Reader) -> bool:
    """"jueves 20", "friday the 13th": the day of the month wins over the weekday."""
    m = r.find(rf"\b(?:el\s+|on\s+|this\s+|next\s+)?{_WD}\s+(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\b"
               r"(?!\s*(?:[:.]\d|hs|h\b|[ap]\.?\s?m\b|de la|y media|o'?clock|-|a \d|to \d))")
    if not m:
        return False
    number = int(m.group(1))
    day = _day_of_month(number, r.today)
    named = re.match(_WD, m.group(0).split()[-2] if len(m.group(0).split()) > 1 else "")
    if day is None or number <= 12 and not (named and day.weekday() == weekday_index(named.group(0))):
        return False  # "thursday 4": the hour
    r.when.day, r.when.explicit_date = day, True
    r.take(m)
    return True


def _day(r: _Reader) -> None:
    w, today = r.when, r.today
    if r.when.day is not None or _weekday_and_date(r):
        return
    if m := r.find(r"\b(?:the\s+)?day after tomorrow\b|\bpasado\s+manana\b"):
        w.day = today + timedelta(days=2)
    elif (m := r.find(r"\b(?:tomorrow|tomorow|tommorow|tommorrow|tomorro|tmrw|tmr|tmw|2morrow|manana)\b")) and not \
            re.search(r"(?:\bla|\bpor la|\bde la|\ba la|\besta|\ben la|\btoda la)\s+$", r.text[:m.start()]):
        w.day = today + timedelta(days=1)
    elif m := r.find(r"\b(?:tonight|esta noche|hoy a la noche|this evening)\b"):
        w.day, w.period = today, "evening"
    elif m := r.find(r"\b(?:this morning|esta manana|this afternoon|esta tarde)\b"):
        w.day, w.period = today, "morning" if "man" in m.group(0) or "morning" in m.group(0) else "afternoon"
    elif m := r.find(r"\b(?:today|hoy)\b"):
        w.day = today
    elif m := r.find(r"\b(\d{4})-(\d{2})-(\d{2})\b"):
        w.day, w.explicit_date = _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3))), True
    elif m := r.find(rf"\b(?:on\s+|el\s+)?(?:the\s+)?(?:dia\s+)?\d{{1,2}}(?:st|nd|rd|th|ro|ero|°|º)?\s+(?:of\s+|de\s+)?{_MONTH}\b"
                     r"(?:,?\s+(?:de\s+|del\s+)?\d{4})?"):
        w.day, w.explicit_date = _named_date(m.group(0), today), True
    elif m := r.find(rf"\b(?:on\s+)?{_MONTH}\s+(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)?\b(?::?\d{{2}})?(?:,?\s+\d{{4}})?"):
        if re.search(r":\d{2}", m.group(0)):
            return
        w.day, w.explicit_date = _named_date(m.group(0), today), True
    elif m := r.find(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b|\b(\d{1,2})[.-](\d{1,2})[.-](\d{4}|\d{2})\b"):
        w.day, w.explicit_date = _numeric_date(m, today, r.order), True
    elif m := r.find(rf"\b(?:(next|this|coming|this coming|on|el|este|el proximo|proximo|el otro)\s+)?({_WD})"
                     r"\b(\s+(?:que viene|proximo|next week|de la semana que viene))?"):
        target = weekday_index(m.group(2))
        ahead = (target - today.weekday()) % 7
        if ahead == 0 and (m.group(1) or "") not in ("this", "este"):
            ahead = 7
        w.day = today + timedelta(days=ahead)
        if m.group(3) and ("semana" in m.group(3) or "week" in m.group(3)):
            w.day = today + timedelta(days=7 - today.weekday() + target)
    elif m := r.find(r"\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)?\b|\b(?:on\s+)?(\d{1,2})(?:st|nd|rd|th)\b|"
                     r"\bel\s+(?:dia\s+)?(\d{1,2})\b(?!\s*(?:[:.]\d|hs|h\b|de la|y media|pm|am))"):
        w.day, w.explicit_date = _day_of_month(int(m.group(1) or m.group(2) or m.group(3)), today), True
    else:
        return
    if w.day is None:
        return
    r.take(m)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


RECENT = timedelta(days=30)  # a date without a year that passed this long ago at most is this year's (then asked)


def _this_or_next_year(day: date | None, today: date) -> date | None:
    if day is None or day >= today - RECENT:
        return day
    return _safe_date(day.year + 1, day.month, day.day)


def _named_date(text: str, today: date) -> date | None:
    text = re.sub(r"^(?:on|el)\s+", "", text.strip())
    text = re.sub(r"(\d)(?:ro|ero|°|º)\b", r"\1", text)
    found = dateparser.parse(
        text, languages=["en", "es"],
        settings={"PREFER_DATES_FROM": "current_period", "RELATIVE_BASE": datetime.combine(today, time()),
                  "REQUIRE_PARTS": ["day", "month"]},
    )
    if found is None:
        return None
    if re.search(r"\d{4}", text):
        return found.date()
    return _this_or_next_year(_safe_date(today.year, found.month, found.day), today)


def _numeric_date(m: re.Match[str], today: date, order: str) -> date | None:
    a, b, year_text = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
    day, month = (int(b), int(a)) if order == "MDY" else (int(a), int(b))
    if year_text:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        return _safe_date(year, month, day)
    return _this_or_next_year(_safe_date(today.year, month, day), today)


def _day_of_month(day: int, today: date) -> date | None:
    year, month = today.year, today.month
    for _ in range(3):
        found = _safe_date(year, month, day)
        if found is not None and found >= today:
            return found
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _period(r: _Reader) -> None:
    if m := r.find(r"\b(?:in the |this |por la |a la |de la |en la |la )?(morning|manana|afternoon|tarde|evening|"
                   r"noche|night|temprano|early)\b"):
        word = m.group(1)
        r.when.period = ("morning" if word in ("morning", "manana", "temprano", "early") else
                         "afternoon" if word in ("afternoon", "tarde") else "evening")
        r.take(m)
    if r.when.period and r.when.at and r.when.bare:
        if r.when.period != "morning" and r.when.at.hour < 12:
            r.when.at = time(r.when.at.hour + 12, r.when.at.minute)
        elif r.when.period == "morning" and r.when.at.hour == 12:
            r.when.at = time(0, r.when.at.minute)
        r.when.bare = False


def _span(r: _Reader) -> None:
    spans = [(r"\b(?:next week|la semana que viene|la proxima semana|la semana proxima|proxima semana)\b", "next_week"),
             (r"\b(?:this week|esta semana|the rest of the week|el resto de la semana|week)\b", "week"),
             (r"\b(?:this weekend|the weekend|weekend|el finde|finde|fin de semana|el fin de semana)\b", "weekend"),
             (r"\b(?:next month|el mes que viene|el proximo mes|proximo mes)\b", "next_month"),
             (r"\b(?:this month|este mes)\b", "month")]
    for pattern, name in spans:
        if m := r.find(pattern):
            r.when.span = name
            r.take(m)
            return
