"""Who may do what on NATS: one identity per service, each allowed only its own subjects.

This table is the one source of NATS permissions. `switchboard up` renders it into the
local nats-server's `authorization` block (`server_config`); the deploy manifests'
`deploy/nats/auth-values.yaml` is rendered from it too (`helm_values`), and
tests/deploy checks the committed file still matches.

What each identity may do follows from the code that uses NATS:

- Events: a service publishes only the kinds it owns (`wa.<kind>.*`, the subject a
  publisher writes; the stream adds the partition). Every consuming stage may also
  publish dead letters. Nobody but the operator subscribes to `wa.>` with core NATS:
  events reach services through JetStream consumers, delivered to their own inboxes.
- Inboxes: each identity connects with the inbox prefix `_INBOX_<identity>`
  (`inbox_prefix`) and may subscribe only there, so no service can read the replies
  (PubAcks, calendar answers, consumer deliveries) meant for another.
- Consumers: a stage may create, read, pull from, unpin and acknowledge only its own
  durables (`<service>-<kind>-pNNN`, one per partition, so the table depends on P).
- Key-value buckets: a stage may create, read and write its own buckets, and only its
  own keys in the shared progress bucket.
- Calendar RPC: only the agent may send `calendar.<endpoint>` requests; only the
  calendar may subscribe to them (and to the micro-service `$SRV` subjects); it answers
  through `allow_responses`, which lets it publish only to the reply subject of a
  request it received.
- Reads of the event log by direct get (`$JS.API.DIRECT.GET.<stream>`) cannot be
  narrowed to a subject by permissions; the stages that need them (the order guard,
  the agent's burst read-ahead) may read the stream, the gateway and calendar may not.
- The console (`console`) reads the stream (its info, single messages, the list of its
  consumers and their lag) and the dead letters, through an ordered consumer of its own
  (an ephemeral push consumer delivered to its inbox; the server removes it when the
  console unsubscribes); it may publish only a retried copy of a dead letter (the kinds
  the ordered stages consume) and the DeadLetterRetried/Discarded records. It may create
  no durable, pull from none and delete nothing.
- Reminders: the agent and outbound both keep reminders (the `REMINDERS` and
  `REMINDER_PREFS` buckets) and set timers (publish `timers.set.*.*` in the stream
  `REMINDER_TIMERS`; cancelling purges a subject, and the purge API cannot be narrowed to a
  subject, so either may purge any timer of that stream). Outbound alone consumes fired
  timers (durable `reminders-dispatch`), deletes the handled copies, and follows calendar
  changes (durable `reminders-calendar` on the event log).
- `admin` is the operator and provisioning identity (`switchboard provision`,
  `dead-letters`, `replay`, the migrate Job): everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from shared.calendar import ENDPOINTS, SUBJECT_PREFIX
from shared.ids import SUBJECT_ROOT

SERVICES = ("gateway", "transcriber", "agent", "calendar", "outbound", "audit", "console")
ADMIN = "admin"
IDENTITIES = (*SERVICES, ADMIN)

# The ordered stages: (service, kind of event it consumes).
ORDERED_STAGES = {"transcriber": "received", "agent": "text", "outbound": "reply"}
AUDIT_DURABLE = "audit"  # services.audit.service.DURABLE (audit cannot be imported from shared)
GATEWAY_BUCKET = "GATEWAY_SEEN"  # services.gateway.seen.BUCKET
OUTBOUND_BUCKET = "OUTBOUND_SENT"  # services.outbound.ledger.BUCKET
PRIVACY_CUTS_BUCKET = "PRIVACY_CUTS"  # services.agent.privacy.CUTS_BUCKET
# services.reminders: book.REMINDERS_BUCKET, book.PREFERENCES_BUCKET, timers.STREAM, worker's durables
REMINDER_BUCKETS = ("REMINDERS", "REMINDER_PREFS")
TIMER_STREAM = "REMINDER_TIMERS"
REMINDER_DISPATCH_DURABLE = "reminders-dispatch"
REMINDER_CALENDAR_DURABLE = "reminders-calendar"

# The kinds of event each service publishes (shared.events: `kind` of each class).
PUBLISHES: dict[str, tuple[str, ...]] = {
    "gateway": ("received", "status"),
    "transcriber": ("text", "dead_letter"),
    "agent": ("reply", "agent_failed", "dead_letter", "privacy", "reminder", "preferences"),
    "calendar": ("calendar",),
    "outbound": ("sent", "send_failed", "dead_letter", "reminder"),
    "audit": (),
    # A retried dead letter is stored again as the event it was (what a stage consumes).
    "console": (*ORDERED_STAGES.values(), "dead_letter"),
}


def inbox_prefix(identity: str) -> str:
    """The inbox prefix an identity connects with; it may subscribe only below it."""
    return f"_INBOX_{identity}"


@dataclass(frozen=True)
class Permissions:
    """The subjects one identity may publish to and subscribe to."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False

    def as_config(self) -> dict[str, Any]:
        """The `permissions` map of a nats-server user."""
        config: dict[str, Any] = {
            "publish": {"allow": list(self.publish)},
            "subscribe": {"allow": list(self.subscribe)},
        }
        if self.allow_responses:
            config["allow_responses"] = {"max": 1}
        return config


def _bucket(bucket: str, *, keys: str | None = ">", listing: bool = False) -> list[str]:
    """Open (or create), read and write one key-value bucket; `keys` limits the writes (None: read only)."""
    kv_stream = f"KV_{bucket}"
    subjects = [
        f"$JS.API.STREAM.INFO.{kv_stream}",
        f"$JS.API.STREAM.CREATE.{kv_stream}",
        f"$JS.API.STREAM.MSG.GET.{kv_stream}",
        f"$JS.API.DIRECT.GET.{kv_stream}",
        f"$JS.API.DIRECT.GET.{kv_stream}.>",
    ]
    if keys is not None:
        subjects.append(f"$KV.{bucket}.{keys}")
    if listing:  # `keys()` reads through a short-lived ordered consumer
        subjects += [f"$JS.API.CONSUMER.CREATE.{kv_stream}", f"$JS.API.CONSUMER.CREATE.{kv_stream}.>",
                     f"$JS.API.CONSUMER.INFO.{kv_stream}.>", f"$JS.API.CONSUMER.DELETE.{kv_stream}.>",
                     f"$JS.FC.{kv_stream}.>"]
    return subjects


def _consumer(stream: str, durable: str, *, filtered: bool = False) -> list[str]:
    """Create, inspect, pull from, unpin and acknowledge one durable consumer."""
    api = "$JS.API.CONSUMER"
    subjects = [
        f"{api}.CREATE.{stream}.{durable}",
        f"{api}.INFO.{stream}.{durable}",
        f"{api}.MSG.NEXT.{stream}.{durable}",
        f"{api}.UNPIN.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]
    if filtered:  # nats-py's add_consumer: the filter in the create subject, or the older durable API
        subjects += [f"{api}.CREATE.{stream}.{durable}.>", f"{api}.DURABLE.CREATE.{stream}.{durable}"]
    return subjects


def _ordered_stage(service: str, stream: str, partitions: int) -> list[str]:
    kind = ORDERED_STAGES[service]
    stage = f"{service}-{kind}"
    subjects = [
        *_bucket(f"{stream}_PROGRESS", keys=f"{stage}.>"),
        *_bucket(f"{stream}_MEMBERS_{service}_{kind}", listing=True),
    ]
    for partition in range(partitions):
        subjects += _consumer(stream, f"{stage}-p{partition:03d}")
    return subjects


def _retries_dead_letters(service: str, stream: str) -> list[str]:
    """shared.dead_letter_retry: read the dead letters (an ordered consumer on
    `wa.dead_letter.>`, delivered to the identity's own inbox) and the original event, and
    store the original again on its own subject. So a stage may publish the kind it
    consumes: the price of automatic retries (a stage could store an event of the kind it
    is handed anyway, never a reply or a calendar change it does not own)."""
    api = "$JS.API.CONSUMER"
    return [
        f"{api}.CREATE.{stream}", f"{api}.CREATE.{stream}.>", f"{api}.INFO.{stream}.>", f"{api}.DELETE.{stream}.>",
        f"$JS.FC.{stream}.>", f"$JS.API.STREAM.MSG.GET.{stream}", *_events([ORDERED_STAGES[service]]),
    ]


def _reads_stream(stream: str) -> list[str]:
    return [f"$JS.API.DIRECT.GET.{stream}", f"$JS.API.DIRECT.GET.{stream}.>"]


def _console(stream: str) -> list[str]:
    """Read the stream and its consumers; follow the dead letters with an ordered consumer."""
    api = "$JS.API"
    return [
        f"{api}.STREAM.MSG.GET.{stream}",
        *_reads_stream(stream),
        f"{api}.CONSUMER.LIST.{stream}",
        f"{api}.CONSUMER.INFO.{stream}.>",
        f"{api}.CONSUMER.CREATE.{stream}",  # an ephemeral consumer: no name, so no durable's
        f"$JS.FC.{stream}.>",  # the ordered consumer's flow-control answers
    ]


def _reminders() -> list[str]:
    """Keep reminders and set or cancel their timers (`services.reminders.book`, `timers`)."""
    subjects = [f"$JS.API.STREAM.INFO.{TIMER_STREAM}", f"$JS.API.STREAM.CREATE.{TIMER_STREAM}",
                f"$JS.API.STREAM.PURGE.{TIMER_STREAM}", "timers.set.*.*"]
    for bucket in REMINDER_BUCKETS:
        subjects += _bucket(bucket)
    return subjects


def _events(kinds: Iterable[str]) -> list[str]:
    return [f"{SUBJECT_ROOT}.{kind}.*" for kind in kinds]


def permissions(identity: str, stream: str = "WHATSAPP", partitions: int = 16) -> Permissions:
    """What `identity` may do on a deployment with this stream name and partition count."""
    if identity == ADMIN:
        return Permissions(publish=(">",), subscribe=(">",))
    if identity not in SERVICES:
        raise ValueError(f"unknown NATS identity {identity!r}; known: {', '.join(IDENTITIES)}")
    publish = [f"$JS.API.STREAM.INFO.{stream}", *_events(PUBLISHES[identity])]
    subscribe = [f"{inbox_prefix(identity)}.>"]
    if identity in ORDERED_STAGES:
        publish += [*_reads_stream(stream), *_ordered_stage(identity, stream, partitions),
                    *_retries_dead_letters(identity, stream)]
    if identity == "gateway":
        publish += _bucket(GATEWAY_BUCKET)
    if identity == "outbound":
        publish += _bucket(OUTBOUND_BUCKET)
        publish += [*_reminders(), f"$JS.API.STREAM.MSG.DELETE.{TIMER_STREAM}",
                    *_consumer(TIMER_STREAM, REMINDER_DISPATCH_DURABLE, filtered=True),
                    *_consumer(stream, REMINDER_CALENDAR_DURABLE, filtered=True)]
    if identity == "agent":
        publish += [f"{SUBJECT_PREFIX}.{endpoint}" for endpoint in ENDPOINTS]
        publish += _bucket(PRIVACY_CUTS_BUCKET, keys=None)  # erasure cuts: read, written by the privacy worker
        publish += _reminders()
    if identity == "audit":
        publish += _consumer(stream, AUDIT_DURABLE, filtered=True)
    if identity == "console":
        publish += _console(stream)
    calendar = identity == "calendar"
    if calendar:
        subscribe += [f"{SUBJECT_PREFIX}.>", "$SRV.>"]
    return Permissions(publish=tuple(publish), subscribe=tuple(subscribe), allow_responses=calendar)


def table(stream: str = "WHATSAPP", partitions: int = 16) -> dict[str, Permissions]:
    """Every identity's permissions."""
    return {identity: permissions(identity, stream, partitions) for identity in IDENTITIES}


def authorization(passwords: dict[str, str], stream: str = "WHATSAPP", partitions: int = 16) -> dict[str, Any]:
    """The nats-server `authorization` block: one user per identity, with its password.

    A password may be a literal, a bcrypt hash, or (in Helm values) a reference to an
    environment variable of the server's container.
    """
    missing = set(IDENTITIES) - passwords.keys()
    if missing:
        raise ValueError(f"no password for {', '.join(sorted(missing))}")
    return {
        "users": [
            {"user": identity, "password": passwords[identity], "permissions": rules.as_config()}
            for identity, rules in table(stream, partitions).items()
        ]
    }


def password_variable(identity: str) -> str:
    """The environment variable holding an identity's password in the NATS server's pod."""
    return f"SWITCHBOARD_NATS_{identity.upper()}_PASSWORD"
