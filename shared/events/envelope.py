"""The envelope every event carries, and the base of every `data` payload.

A catalog class fixes `type`, `kind`, `version` and `data`; the catalog itself
(`shared.events.registry`) is looked up only when an event is written.
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.ids import new_event_id, publish_subject


def utcnow() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    # `from` is a Python keyword: fields use `from_` in code and `from` on the wire.
    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True,
        serialize_by_alias=True,
    )


D = TypeVar("D", bound=Payload)


class Event(BaseModel, Generic[D]):
    """The common envelope. Subclasses fix `type`, `kind`, `version` and `data`."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    kind: ClassVar[str]
    # The version this code writes. Each catalog class fixes it to its `version` literal
    # (checked when the class is defined); `decode` upcasts older versions to it and
    # refuses newer ones, and `to_bytes` refuses to write anything else.
    current_version: ClassVar[int] = 1

    id: str = Field(default_factory=new_event_id)
    type: str
    version: int
    conversation: str
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: str | None = None
    causation_id: str | None = None
    data: D

    @property
    def subject(self) -> str:
        return publish_subject(self.kind, self.conversation)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        version = cls.model_fields["version"].default
        if isinstance(version, int):
            cls.current_version = version

    def to_bytes(self) -> bytes:
        """The wire form. Only the current version of an event type is ever written."""
        # Imported here: the catalog is built from subclasses of this envelope.
        from shared.events.registry import CATALOG

        current = CATALOG.get(self.type)
        if current is None or self.version != current.current_version:
            raise ValueError(
                f"{self.type} v{self.version} is not the current version "
                f"(v{current.current_version if current else '?'}); old versions are read, never written"
            )
        return self.model_dump_json().encode()

    def caused(self, cls: builtins.type[E], data: Payload, **envelope: Any) -> E:
        """Build the next event in this chain: same conversation and correlation."""
        return cls(
            conversation=self.conversation,
            correlation_id=self.correlation_id or self.id,
            causation_id=self.id,
            data=data,
            **envelope,
        )


E = TypeVar("E", bound="Event[Any]")
