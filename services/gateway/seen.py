"""Which MessageSids the gateway has already stored, remembered for days.

The stream's `Nats-Msg-Id` window (15 minutes) stops Twilio's retries from storing an
event twice, but a signed webhook has no timestamp: a copy replayed an hour later would
be a new event. This JetStream KV bucket remembers every stored MessageSid for
GATEWAY_SEEN_TTL_DAYS, so such a replay is answered 200 and stores nothing.

The record is written after the PubAck without waiting for its own ack (one more PubAck
per webhook would cost about a fifth of the gateway's CPU). If that write is lost (the
connection drops at that instant), the only effect is that a replay of that one sid
after the 15-minute window is not recognised.
"""

from __future__ import annotations

from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

BUCKET = "GATEWAY_SEEN"


class SeenUnavailable(RuntimeError):
    """The record of seen MessageSids could not be read; the webhook must be retried."""


class SeenMessages:
    def __init__(self, kv: KeyValue, nc: NATS):
        self.kv, self.nc = kv, nc
        self._subject_prefix = f"$KV.{BUCKET}."

    @classmethod
    async def open(cls, nc: NATS, js: JetStreamContext, ttl_days: float, replicas: int = 1) -> SeenMessages:
        """Bind to the bucket, creating it if it is missing. Safe to run any number of times."""
        try:
            kv = await js.key_value(BUCKET)
        except BucketNotFoundError:
            kv = await js.create_key_value(
                KeyValueConfig(
                    bucket=BUCKET, description="gateway: MessageSids already stored, to refuse late replays",
                    history=1, ttl=ttl_days * 86400, storage=StorageType.FILE, replicas=replicas, direct=True,
                )
            )
        return cls(kv, nc)

    async def seen(self, message_sid: str) -> bool:
        try:
            await self.kv.get(message_sid)
        except KeyNotFoundError:
            return False
        except (TimeoutError, NatsError, OSError) as exc:
            raise SeenUnavailable(str(exc) or type(exc).__name__) from exc
        return True

    async def remember(self, message_sid: str, stream_seq: int) -> None:
        """Record `message_sid` without waiting for the store's ack (see the module docstring)."""
        await self.nc.publish(self._subject_prefix + message_sid, str(stream_seq).encode())
