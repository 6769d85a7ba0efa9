"""Timers on JetStream message schedules: the stream `REMINDER_TIMERS` fires each reminder.

A timer is one message on `timers.set.<conversation>.<reminder>` carrying the headers
`Nats-Schedule: @at <UTC time>` and `Nats-Schedule-Target: timers.due.<conversation>.<reminder>`.
At that time the server stores a copy on the target subject (verified on nats-server 2.15:
the copy keeps our headers and adds `Nats-Scheduler`; the schedule message is removed).
Setting a timer again on the same subject replaces it (`max_msgs_per_subject: 1`); purging the
subject cancels it. A time already past fires at once. The target must be in the same
stream, which is why timers live in a stream of their own and not in `WHATSAPP` (whose
subject transform and keep-forever retention suit facts, not alarms).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

STREAM = "REMINDER_TIMERS"
SET = "timers.set"
DUE = "timers.due"
REVISION_HEADER = "Sb-Reminder-Revision"


def timer_stream_config(replicas: int = 1) -> dict[str, object]:
    """The stream as the JetStream API takes it (nats-py's StreamConfig has no `allow_msg_schedules`)."""
    return {
        "name": STREAM,
        "description": "Switchboard reminder timers: JetStream message schedules and the copies they fire",
        "subjects": [f"{SET}.*.*", f"{DUE}.*.*"],
        "allow_msg_schedules": True,
        "max_msgs_per_subject": 1,
        "storage": "file",
        "retention": "limits",
        "discard": "old",
        "num_replicas": replicas,
        "allow_direct": True,
        "duplicate_window": 120_000_000_000,
    }


async def ensure_timer_stream(js: JetStreamContext, replicas: int = 1) -> None:
    """Create the timer stream if it is missing. Safe to run any number of times, anywhere."""
    nc = js._nc  # the raw API call; nats-py cannot express `allow_msg_schedules`
    try:
        await js.stream_info(STREAM)
        return
    except NotFoundError:
        pass
    reply = await nc.request(f"$JS.API.STREAM.CREATE.{STREAM}", json.dumps(timer_stream_config(replicas)).encode(),
                             timeout=10)
    answer = json.loads(reply.data)
    error = answer.get("error")
    if error and error.get("err_code") != 10058:  # 10058: created meanwhile by another process
        raise RuntimeError(f"could not create stream {STREAM}: {error.get('description')}")


def schedule_time(at: datetime) -> str:
    """`at` as the schedule header wants it: RFC 3339 UTC in milliseconds, never before `at`
    (the server honours fractions of a second: measured 2 ms late on 2.15)."""
    at = at.astimezone(UTC)
    rounded = at.replace(microsecond=at.microsecond // 1000 * 1000)
    if rounded < at:
        rounded += timedelta(milliseconds=1)
    return rounded.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rounded.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class DueTimer:
    conversation: str
    reminder_id: str
    revision: int


def parse_due(subject: str, headers: dict[str, str] | None) -> DueTimer:
    """A fired timer, from its subject and headers; ValueError if it is not one of ours."""
    parts = subject.split(".")
    if len(parts) != 4 or f"{parts[0]}.{parts[1]}" != DUE:
        raise ValueError(f"not a timer subject: {subject!r}")
    revision = (headers or {}).get(REVISION_HEADER, "")
    if not revision.isdigit():
        raise ValueError("timer without a revision header")
    return DueTimer(parts[2], parts[3], int(revision))


class Timers:
    """Set and cancel timers (JetStream in production; see `tests` for the stream itself)."""

    def __init__(self, js: JetStreamContext, publish_timeout_s: float = 5.0):
        self.js = js
        self.timeout = publish_timeout_s

    async def set(self, conversation: str, reminder_id: str, revision: int, at: datetime) -> None:
        when = schedule_time(at)
        headers = {
            "Nats-Schedule": f"@at {when}",
            "Nats-Schedule-Target": f"{DUE}.{conversation}.{reminder_id}",
            "Nats-Msg-Id": f"timer:{reminder_id}:{revision}:{when}",
            REVISION_HEADER: str(revision),
        }
        await self.js.publish(f"{SET}.{conversation}.{reminder_id}", b"", headers=headers, timeout=self.timeout)

    async def cancel(self, conversation: str, reminder_id: str) -> None:
        await self.js.purge_stream(STREAM, subject=f"{SET}.{conversation}.{reminder_id}")
