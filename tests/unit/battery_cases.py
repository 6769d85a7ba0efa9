"""The offline model's battery: realistic WhatsApp messages and what must come of them.

Every case is a short conversation (one message, or a few: follow-ups answer the
assistant's own questions) by a user in New York (+1, month/day dates) or Buenos Aires
(+54, day/month), on Tuesday 10 June 2025 at 10:00 their time, with the events in `seed`
already in their calendar. The expectation is checked on the calendar afterwards and on the
last reply. "Voice" cases are written as Whisper transcribes speech (punctuation, "p.m.",
numbers in words, fillers).

Days for reference: Tue 10 (today), Wed 11, Thu 12, Fri 13, Sat 14, Sun 15, Mon 16 June.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

US = "+12125550123"
AR = "+5491155550123"


@dataclass
class Case:
    category: str
    messages: list  # text, or (text, confidence) for the words of a voice note
    expect: Callable  # (chat, seeds) -> problem or None
    user: str = US
    seed: list[tuple] = field(default_factory=list)  # (summary, local start[, minutes[, rule]])
    past_ok: bool = False  # the conversation confirms a booking in the past

    @property
    def name(self) -> str:
        return " / ".join(m if isinstance(m, str) else f"🎤 {m[0]} ({m[1]:.2f})" for m in self.messages)


def _new(chat, seeds):
    seeded = {s[0] for s in seeds}
    return [e for e in chat.calendar() if not e.event_id.startswith("seed") or e.summary not in seeded]


def created(summary: str, start: str, minutes: int | None = None, all_day: bool | None = None,
            rule: str | None = None, contains: str = ""):
    def check(chat, seeds):
        fresh = [e for e in chat.calendar() if not e.event_id.startswith("seed")]
        if len(fresh) != 1:
            return f"expected one new event, calendar has {[(e.summary, chat.local(e)) for e in fresh]}"
        event = fresh[0]
        problems = []
        if event.summary.casefold() != summary.casefold():
            problems.append(f"summary {event.summary!r} != {summary!r}")
        if chat.local(event) != start:
            problems.append(f"start {chat.local(event)} != {start}")
        length = int((event.end - event.start).total_seconds() // 60)
        if minutes is not None and length != minutes:
            problems.append(f"{length} min != {minutes}")
        if all_day is not None and event.all_day != all_day:
            problems.append(f"all_day {event.all_day}")
        if rule is not None and event.recurrence != rule:
            problems.append(f"recurrence {event.recurrence} != {rule}")
        if contains and contains.casefold() not in chat.replies[-1].casefold():
            problems.append(f"reply lacks {contains!r}")
        return "; ".join(problems) or None
    return check


def asks(*contains: str):
    """Nothing changed; the reply is a question (and says `contains`)."""
    def check(chat, seeds):
        if [e for e in chat.calendar() if not e.event_id.startswith("seed")] or len(chat.calendar()) != len(seeds):
            return f"calendar changed: {[(e.summary, chat.local(e)) for e in chat.calendar()]}"
        if "?" not in chat.replies[-1]:
            return "the reply asks nothing"
        return _contains(chat, contains)
    return check


def unchanged(*contains: str):
    """Nothing changed; the reply says each of `contains` (case-insensitive)."""
    def check(chat, seeds):
        if [e for e in chat.calendar() if not e.event_id.startswith("seed")] or len(chat.calendar()) != len(seeds):
            return f"calendar changed: {[(e.summary, chat.local(e)) for e in chat.calendar()]}"
        return _contains(chat, contains)
    return check


def moved(summary: str, start: str, minutes: int | None = None):
    def check(chat, seeds):
        found = [e for e in chat.calendar() if e.summary == summary]
        if len(found) != 1 or chat.local(found[0]) != start:
            return f"{summary!r} is at {[chat.local(e) for e in found]}, not {start}"
        if minutes is not None and int((found[0].end - found[0].start).total_seconds() // 60) != minutes:
            return "wrong duration"
        return None
    return check


def cancelled(*summaries: str, left: int | None = None):
    def check(chat, seeds):
        titles = [e.summary for e in chat.calendar()]
        gone = [s for s in summaries if s not in titles]
        if len(gone) != len(summaries):
            return f"still there: {[s for s in summaries if s in titles]}"
        expected = len(seeds) - len(summaries) if left is None else left
        if len(titles) != expected:
            return f"{len(titles)} events left, expected {expected}: {titles}"
        return None
    return check


def starts(*expected: str):
    """The calendar holds events starting at exactly these times."""
    def check(chat, seeds):
        found = sorted(chat.local(e) for e in chat.calendar())
        return None if found == sorted(expected) else f"starts {found} != {sorted(expected)}"
    return check


def replied(*contains: str):
    def check(chat, seeds):
        return _contains(chat, contains)
    return check


def _contains(chat, contains) -> str | None:
    reply = chat.replies[-1].casefold()
    missing = [c for c in contains if c.casefold() not in reply]
    return f"reply lacks {missing}: {chat.replies[-1]!r}" if missing else None


DENTIST = [("Dentist", "2025-06-12T16:00")]
WEEK = [("Dentist", "2025-06-12T16:00"), ("Lunch with Ana", "2025-06-11T13:00"), ("Team standup", "2025-06-11T09:00", 30),
        ("Gym", "2025-06-13T07:00")]
SEMANA = [("Turno médico", "2025-06-12T16:00"), ("Almuerzo con Ana", "2025-06-11T13:00"),
          ("Reunión de equipo", "2025-06-11T09:00", 30), ("Gimnasio", "2025-06-13T07:00")]
TWO_DENTISTS = [("Dentist", "2025-06-12T16:00"), ("Dentist", "2025-06-19T10:00")]
TOMORROW = [("Standup", "2025-06-11T09:00", 30), ("Lunch with Ana", "2025-06-11T13:00"), ("Review", "2025-06-11T15:00"),
            ("Dinner", "2025-06-12T20:00")]


def C(category, messages, expect, user=US, seed=(), past_ok=False) -> Case:
    return Case(category, [messages] if isinstance(messages, str) else list(messages), expect, user, list(seed), past_ok)


CASES: list[Case] = [
    # --- creating, English ---
    C("create en", "Schedule lunch with Ana tomorrow at 1", created("Lunch with Ana", "2025-06-11T13:00")),
    C("create en", "dentist thursday 4pm", created("Dentist", "2025-06-12T16:00")),
    C("create en", "gym friday 7am", created("Gym", "2025-06-13T07:00")),
    C("create en", "Book a haircut on Saturday at 11", created("Haircut", "2025-06-14T11:00")),
    C("create en", "add meeting with John next monday at 10:30", created("Meeting with John", "2025-06-16T10:30")),
    C("create en", "Can you put call with mom tonight at 8", created("Call with mom", "2025-06-10T20:00")),
    C("create en", "coffee with Leo at 3", created("Coffee with Leo", "2025-06-10T15:00")),
    C("create en", "Doctor appointment Wednesday 9:15am", created("Doctor appointment", "2025-06-11T09:15")),
    C("create en", "I have a job interview on Friday at 2:30", created("Job interview", "2025-06-13T14:30")),
    C("create en", "plan team offsite next Thursday 9am to 5pm", created("Team offsite", "2025-06-12T09:00", 480)),
    C("create en", "set up a call with the bank tomorrow at noon", created("Call with the bank", "2025-06-11T12:00")),
    C("create en", "parent-teacher meeting thursday at 6:30pm", created("Parent-teacher meeting", "2025-06-12T18:30")),
    C("create en", "Please schedule a 3 hour workshop on Monday at 9", created("Workshop", "2025-06-16T09:00", 180)),
    C("create en", "yoga tomorrow 6pm for 90 min", created("Yoga", "2025-06-11T18:00", 90)),
    C("create en", "Add dinner at Nobu on Friday at 8", created("Dinner at Nobu", "2025-06-13T20:00")),
    C("create en", "pick up kids today at 4:30", created("Pick up kids", "2025-06-10T16:30")),
    C("create en", "call the plumber in 2 hours", created("Call the plumber", "2025-06-10T12:00")),
    C("create en", "Meeting with Sarah at 2:30", created("Meeting with Sarah", "2025-06-10T14:30")),
    C("create en", "standup at 9", created("Standup", "2025-06-11T09:00")),
    C("create en", "book tennis for an hour and a half on sunday at 10am", created("Tennis", "2025-06-15T10:00", 90)),
    C("create en", "Lunch with the team Thursday noon", created("Lunch with the team", "2025-06-12T12:00")),
    C("create en", "schedule a call with Mark from 2 to 3:30 tomorrow", created("Call with Mark", "2025-06-11T14:00", 90)),
    C("create en", "piano lesson wednesday 5-6pm", created("Piano lesson", "2025-06-11T17:00", 60)),
    C("create en", "vet appointment for Max on friday at 11am", created("Vet appointment for Max", "2025-06-13T11:00")),
    C("create en", "drinks with Tom tonight at 9", created("Drinks with Tom", "2025-06-10T21:00")),
    # --- dates: days of the month, numeric dates, relative ---
    C("dates", "dinner on the 15th at 8pm", created("Dinner", "2025-06-15T20:00")),
    C("dates", "call with bank on the 3rd at 2:30", created("Call with bank", "2025-07-03T14:30")),
    C("dates", "Dentist on 11/20 at 3pm", created("Dentist", "2025-11-20T15:00")),
    C("dates", "dentista el 20/11 a las 15", created("Dentista", "2025-11-20T15:00"), user=AR),
    C("dates", "flight on June 20 at 7am", created("Flight", "2025-06-20T07:00")),
    C("dates", "Conference July 3rd 9am", created("Conference", "2025-07-03T09:00")),
    C("dates", "reunión el 5 de julio a las 10", created("Reunión", "2025-07-05T10:00"), user=AR),
    C("dates", "team dinner 2025-06-27 19:30", created("Team dinner", "2025-06-27T19:30")),
    C("dates", "oil change in 3 days at 10am", created("Oil change", "2025-06-13T10:00")),
    C("dates", "haircut the day after tomorrow at 5", created("Haircut", "2025-06-12T17:00")),
    C("dates", "presentation on 6/24 at 10", created("Presentation", "2025-06-24T10:00")),
    C("dates", "cena el 24/6 a las 21", created("Cena", "2025-06-24T21:00"), user=AR),
    C("dates", "call Mike in 30 minutes", created("Call Mike", "2025-06-10T10:30")),
    C("dates", "turno con la psicóloga pasado mañana a las 18", created("Turno con la psicóloga", "2025-06-12T18:00"),
      user=AR),
    C("dates", "Book massage on the 21st at 3", created("Massage", "2025-06-21T15:00")),
    # --- all-day, birthdays, recurrence ---
    C("repeat/all-day", "Ana's birthday on June 20", created("Ana's birthday", "2025-06-20T00:00", 1440, all_day=True)),
    C("repeat/all-day", "cumple de Sofi el 3 de agosto", created("Cumple de Sofi", "2025-08-03T00:00", 1440, True), user=AR),
    C("repeat/all-day", "offsite all day friday", created("Offsite", "2025-06-13T00:00", 1440, all_day=True)),
    C("repeat/all-day", "standup every monday at 9", created("Standup", "2025-06-16T09:00", rule="FREQ=WEEKLY;BYDAY=MO")),
    C("repeat/all-day", "yoga todos los jueves a las 19", created("Yoga", "2025-06-12T19:00", rule="FREQ=WEEKLY;BYDAY=TH"),
      user=AR),
    C("repeat/all-day", "gym every day at 7am", created("Gym", "2025-06-11T07:00", rule="FREQ=DAILY")),
    C("repeat/all-day", "piano lessons on tuesdays and thursdays at 5pm",
      created("Piano lessons", "2025-06-10T17:00", rule="FREQ=WEEKLY;BYDAY=TU,TH")),
    C("repeat/all-day", "inglés cada miércoles de 18 a 19:30",
      created("Inglés", "2025-06-11T18:00", 90, rule="FREQ=WEEKLY;BYDAY=WE"), user=AR),
    C("repeat/all-day", "pay rent every month on the 1st at 9am", created("Pay rent", "2025-07-01T09:00", rule="FREQ=MONTHLY")),
    C("repeat/all-day", "vacation all day tomorrow", created("Vacation", "2025-06-11T00:00", 1440, all_day=True)),
    # --- Spanish (Rioplatense) creating ---
    C("create es", "agendame dentista el jueves a las 4", created("Dentista", "2025-06-12T16:00"), user=AR),
    C("create es", "Agendá almuerzo con Ana mañana a la 1", created("Almuerzo con Ana", "2025-06-11T13:00"), user=AR),
    C("create es", "anotame el gimnasio el viernes a las 7", created("Gimnasio", "2025-06-13T07:00"), user=AR),
    C("create es", "poné reunión con Juan el lunes a las 10:30", created("Reunión con Juan", "2025-06-16T10:30"), user=AR),
    C("create es", "turno médico el viernes a las 3 y media", created("Turno médico", "2025-06-13T15:30"), user=AR),
    C("create es", "partido de fútbol el sábado a las 17hs", created("Partido de fútbol", "2025-06-14T17:00"), user=AR),
    C("create es", "cena con amigos hoy a las 21", created("Cena con amigos", "2025-06-10T21:00"), user=AR),
    C("create es", "reunión mañana de 10 a 12", created("Reunión", "2025-06-11T10:00", 120), user=AR),
    C("create es", "clase de inglés el miércoles de 18 a 19", created("Clase de inglés", "2025-06-11T18:00", 60), user=AR),
    C("create es", "me podés agendar una llamada con Pedro mañana a las 9?",
      created("Llamada con Pedro", "2025-06-11T09:00"), user=AR),
    C("create es", "agregá peluquería el sábado a las 11", created("Peluquería", "2025-06-14T11:00"), user=AR),
    C("create es", "taller de 3 horas el lunes a las 9", created("Taller", "2025-06-16T09:00", 180), user=AR),
    C("create es", "tengo dentista el jueves a las 16", created("Dentista", "2025-06-12T16:00"), user=AR),
    C("create es", "agendame la reunión de padres el jueves a las 18:30",
      created("Reunión de padres", "2025-06-12T18:30"), user=AR),
    C("create es", "llamar a mamá en 2 horas", created("Llamar a mamá", "2025-06-10T12:00"), user=AR),
    C("create es", "asado el domingo al mediodía", created("Asado", "2025-06-15T12:00"), user=AR),
    C("create es", "poneme yoga mañana a las 8 de la mañana", created("Yoga", "2025-06-11T08:00"), user=AR),
    C("create es", "cita con la contadora el viernes a las 11 por 90 minutos",
      created("Cita con la contadora", "2025-06-13T11:00", 90), user=AR),
    # --- listing, availability, free time ---
    C("list", "What do I have tomorrow?", replied("Standup", "Lunch with Ana", "Review"), seed=TOMORROW),
    C("list", "what's on this week", replied("Dentist", "Lunch with Ana", "Gym"), seed=WEEK),
    C("list", "show me my calendar for friday", replied("Gym"), seed=WEEK),
    C("list", "anything on thursday?", replied("Dentist"), seed=WEEK),
    C("list", "qué tengo mañana?", replied("Almuerzo con Ana", "Reunión de equipo"), user=AR, seed=SEMANA),
    C("list", "qué tengo esta semana", replied("Turno médico", "Gimnasio"), user=AR, seed=SEMANA),
    C("list", "mostrame la agenda del viernes", replied("Gimnasio"), user=AR, seed=SEMANA),
    C("list", "what do I have next week", replied("nothing"), seed=WEEK),
    C("list", "my schedule today", replied("nothing"), seed=WEEK),
    C("list", "tengo algo el jueves?", replied("Turno médico"), user=AR, seed=SEMANA),
    C("check", "am I free friday at 3?", replied("yes"), seed=WEEK),
    C("check", "Am I free tomorrow at 1pm?", replied("no", "Lunch with Ana"), seed=WEEK),
    C("check", "estoy libre el jueves a las 4?", replied("no", "Turno médico"), user=AR, seed=SEMANA),
    C("check", "do I have anything at 9 tomorrow?", replied("Team standup"), seed=WEEK),
    C("check", "estoy libre mañana a las 5 de la tarde?", replied("sí"), user=AR, seed=SEMANA),
    C("free", "when am I free tomorrow?", replied("free"), seed=WEEK),
    C("free", "cuándo estoy libre el viernes?", replied("libre"), user=AR, seed=SEMANA),
    # --- moving ---
    C("move", "move the dentist to friday at 10", moved("Dentist", "2025-06-13T10:00"), seed=WEEK),
    C("move", "reschedule lunch with Ana to 2pm", moved("Lunch with Ana", "2025-06-11T14:00"), seed=WEEK),
    C("move", "push the gym to saturday", moved("Gym", "2025-06-14T07:00"), seed=WEEK),
    C("move", ["dentist thursday 4pm", "move it to 5"], moved("Dentist", "2025-06-12T17:00")),
    C("move", "pasá el turno médico al viernes a las 10", moved("Turno médico", "2025-06-13T10:00"), user=AR, seed=SEMANA),
    C("move", "cambiá el almuerzo con Ana a las 14", moved("Almuerzo con Ana", "2025-06-11T14:00"), user=AR, seed=SEMANA),
    C("move", "mové el gimnasio al sábado a las 9", moved("Gimnasio", "2025-06-14T09:00"), user=AR, seed=SEMANA),
    C("move", "postpone standup to thursday", moved("Team standup", "2025-06-12T09:00", 30), seed=WEEK),
    C("move", ["move the dentist", "friday at 11"], moved("Dentist", "2025-06-13T11:00"), seed=WEEK),
    C("move", ["move the dentist to monday at 9", "2"], starts("2025-06-12T16:00", "2025-06-16T09:00"), seed=TWO_DENTISTS),
    C("move", ["schedule team sync tomorrow at 2", "make it 3 instead"], moved("Team sync", "2025-06-11T15:00")),
    C("move", "push the standup back 30 minutes", moved("Team standup", "2025-06-11T09:30", 30), seed=WEEK),
    C("move", "atrasá el turno médico una hora", moved("Turno médico", "2025-06-12T17:00"), user=AR, seed=SEMANA),
    C("list", "When is my dentist appointment?", replied("Thu 12 Jun"), seed=WEEK),
    C("list", "¿cuándo es el turno médico?", replied("jue 12 jun"), user=AR, seed=SEMANA),
    C("create es", "reunión de consorcio el martes 17 a las 19:30", created("Reunión de consorcio", "2025-06-17T19:30"),
      user=AR),
    # --- cancelling ---
    C("cancel", "Delete the 4pm appointment on Thursday", cancelled("Dentist"), seed=WEEK),
    C("cancel", "cancel my 1pm tomorrow", cancelled("Lunch with Ana"), seed=WEEK),
    C("cancel", "cancel the dentist", cancelled("Dentist"), seed=WEEK),
    C("cancel", "cancel lunch with Ana", cancelled("Lunch with Ana"), seed=WEEK),
    C("cancel", "delete my gym session friday", cancelled("Gym"), seed=WEEK),
    C("cancel", "cancelá el turno médico", cancelled("Turno médico"), user=AR, seed=SEMANA),
    C("cancel", "borrá el almuerzo con Ana", cancelled("Almuerzo con Ana"), user=AR, seed=SEMANA),
    C("cancel", "sacame el gimnasio del viernes", cancelled("Gimnasio"), user=AR, seed=SEMANA),
    C("cancel", "i can't make the dentist", cancelled("Dentist"), seed=WEEK),
    C("cancel", ["cancel the dentist", "the first one"], starts("2025-06-19T10:00"), seed=TWO_DENTISTS),
    C("cancel", ["cancel dentist", "no"], unchanged(), seed=TWO_DENTISTS),
    C("cancel", "cancel the meeting with Bob", unchanged("couldn't find"), seed=WEEK),
    C("bulk cancel", "cancel everything tomorrow", asks("3"), seed=TOMORROW),
    C("bulk cancel", ["cancel everything tomorrow", "yes"], cancelled("Standup", "Lunch with Ana", "Review"), seed=TOMORROW),
    C("bulk cancel", ["cancelá todo lo de mañana", "sí"], cancelled("Standup", "Lunch with Ana", "Review"), user=AR,
      seed=TOMORROW),
    C("bulk cancel", ["clear my calendar tomorrow", "no"], unchanged(), seed=TOMORROW),
    C("bulk cancel", "cancel all my meetings on thursday", asks("Dinner"), seed=TOMORROW),
    # --- follow-ups ---
    C("follow-up", ["dinner with Sam tomorrow", "at 8"], created("Dinner with Sam", "2025-06-11T20:00")),
    C("follow-up", ["schedule a call with Laura", "friday at 11"], created("Call with Laura", "2025-06-13T11:00")),
    C("follow-up", ["agendame el dentista", "el jueves a las 4"], created("Dentista", "2025-06-12T16:00"), user=AR),
    C("follow-up", ["reunión con Pablo el lunes", "a las 10"], created("Reunión con Pablo", "2025-06-16T10:00"), user=AR),
    C("follow-up", ["schedule something tomorrow at 3", "Budget review"], created("Budget review", "2025-06-11T15:00")),
    C("follow-up", ["lunch with Ana on 6/2 at 1pm", "yes"], created("Lunch with Ana", "2025-06-02T13:00"), past_ok=True),
    C("follow-up", ["lunch with Ana on 6/2 at 1pm", "no"], unchanged()),
    C("follow-up", ["book the dentist today at 9am", "yes"], created("Dentist", "2025-06-10T09:00"), past_ok=True),
    C("follow-up", ["dentist today at 9am"], asks("past")),
    C("follow-up", ["cancel the dentist", "2"], starts("2025-06-12T16:00"), seed=TWO_DENTISTS),
    C("follow-up", ["cancelá el dentista", "el primero"], starts("2025-06-19T10:00"), user=AR, seed=TWO_DENTISTS),
    C("follow-up", ["move it to 3pm"], asks()),
    C("follow-up", ["dinner with Sam tomorrow", "what time is it?"], unchanged()),
    C("follow-up", ["call with Laura tomorrow", "actually friday at 10"], created("Call with Laura", "2025-06-13T10:00")),
    C("follow-up", ["meeting tomorrow", "at 4", "move it to 5"], moved("Meeting", "2025-06-11T17:00")),
    # --- typos ---
    C("typos", "shedule lunch with Ana tomorow at 1", created("Lunch with Ana", "2025-06-11T13:00")),
    C("typos", "dentist thrusday 4pm", created("Dentist", "2025-06-12T16:00")),
    C("typos", "cancell the dentst", cancelled("Dentist"), seed=WEEK),
    C("typos", "gym on wensday at 7am", created("Gym", "2025-06-11T07:00")),
    C("typos", "wat do i have tomorow", replied("Lunch with Ana"), seed=WEEK),
    C("typos", "reschedual lunch with ana to 2pm", moved("Lunch with Ana", "2025-06-11T14:00"), seed=WEEK),
    C("typos", "agendame dentista el jeuves a las 4", created("Dentista", "2025-06-12T16:00"), user=AR),
    C("typos", "cancela el almuerso con ana", cancelled("Almuerzo con Ana"), user=AR, seed=SEMANA),
    # --- voice transcripts (as Whisper writes them) ---
    C("voice", "Schedule a dentist appointment on Thursday at 4 p.m.", created("Dentist appointment", "2025-06-12T16:00")),
    C("voice", "Um, can you add lunch with Ana tomorrow at one?", created("Lunch with Ana", "2025-06-11T13:00")),
    C("voice", "What do I have tomorrow?", replied("Lunch with Ana"), seed=WEEK),
    C("voice", "Cancel the dentist, please.", cancelled("Dentist"), seed=WEEK),
    C("voice", "Agendame una reunión con Juan el lunes a las diez.", created("Reunión con Juan", "2025-06-16T10:00"), user=AR),
    C("voice", "¿Qué tengo mañana?", replied("Almuerzo con Ana"), user=AR, seed=SEMANA),
    C("voice", "Move the gym to Saturday at 9 a.m.", moved("Gym", "2025-06-14T09:00"), seed=WEEK),
    C("voice", "Book a call with the bank tomorrow at three thirty.", created("Call with the bank", "2025-06-11T15:30")),
    C("voice", "Cancelá el turno médico del jueves.", cancelled("Turno médico"), user=AR, seed=SEMANA),
    C("voice", "Poneme el gimnasio el viernes a las siete de la mañana.", created("Gimnasio", "2025-06-13T07:00"), user=AR),
    C("voice", [("Cancel the dentist.", 0.45)], asks("heard", "Dentist"), seed=WEEK),
    C("voice", [("Cancel the dentist.", 0.45), "yes"], cancelled("Dentist"), seed=WEEK),
    C("voice", [("Cancel the dentist.", 0.45), "no"], unchanged(), seed=WEEK),
    C("voice", [("Cancel the dentist.", 0.85)], cancelled("Dentist"), seed=WEEK),
    C("voice", [("Cancelá el turno médico.", 0.5)], asks("turno médico"), user=AR, seed=SEMANA),
    C("voice", [("Move the gym to Saturday at 9.", 0.5), "yes"], moved("Gym", "2025-06-14T09:00"), seed=WEEK),
    C("voice", [("I'm in Madrid now.", 0.4)], asks("time zone")),
    C("voice", [("Dentist on Thursday at 4 p.m.", 0.5)], created("Dentist", "2025-06-12T16:00", contains="🎤")),
    # --- language, help, the rest ---
    C("language", "hola", replied("hola")),
    C("language", "qué podés hacer?", replied("agenda")),
    C("language", "help", replied("calendar")),
    C("language", ["speak spanish", "what do I have tomorrow?"], replied("mañana"), seed=WEEK),
    C("language", ["hablame en inglés", "qué tengo mañana"], replied("tomorrow"), user=AR, seed=WEEK),
    C("language", "What's the capital of France?", unchanged("calendar")),
    C("language", "quién ganó el mundial?", unchanged("agenda")),
    C("language", "write me a poem", unchanged("calendar")),
    C("language", "gracias!", replied("de nada")),
    C("language", "thanks", replied("welcome")),
    C("zone", "I'm in Madrid now", replied("Europe/Madrid")),
    C("zone", "estoy en Madrid", replied("Europe/Madrid"), user=AR),
    C("zone", "what time is it?", replied("It's")),
    C("zone", "qué hora es?", replied("Son las"), user=AR),
    C("zone", "I'm in a meeting", unchanged()),
    C("language", "hi", replied("assistant")),
    C("language", "buen día!", replied("asistente"), user=AR),
]
