"""Reading stored events: upcasting old versions, then decoding to the current model."""

from __future__ import annotations

import json
from typing import Any, Callable

from shared.events.envelope import Event
from shared.events.registry import CATALOG

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register_upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a pure function turning a `from_version` envelope into the next version.

    The function receives the whole envelope as a dict and returns it with `data`
    changed and `version` set to `from_version + 1`.
    """

    def decorate(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return decorate


class UnknownEvent(ValueError):
    """The payload is not an event this version of Switchboard can read."""


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """The envelope `raw` brought to its type's current version through the registered chain."""
    event_type = raw.get("type")
    cls = CATALOG.get(event_type)  # type: ignore[arg-type]
    if cls is None:
        raise UnknownEvent(f"unknown event type {event_type!r}")
    target = cls.current_version
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UnknownEvent(f"{event_type} has no valid version: {version!r}")
    if version > target:
        raise UnknownEvent(
            f"{event_type} v{version} is newer than this code knows (v{target}); upgrade this service"
        )
    while (version := raw.get("version")) != target:
        step = _UPCASTERS.get((event_type, version))  # type: ignore[arg-type]
        if step is None:
            raise UnknownEvent(f"no upcaster for {event_type} v{version} (current v{target})")
        raw = step(dict(raw))
    return raw


@register_upcaster("MessageTranscribed", from_version=1)
def upcast_message_transcribed_v1(old: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2: v2 adds `from`, `to`, `failure_code` and `failure_reply`.

    v1 as first published had none of them, so they become None. Events written while
    those fields were (wrongly) added to v1 in place carry them already; they are kept.
    """
    data = dict(old["data"])
    for added in ("from", "to", "failure_code", "failure_reply"):
        data.setdefault(added, None)
    return {**old, "version": 2, "data": data}


@register_upcaster("MessageTranscribed", from_version=2)
def upcast_message_transcribed_v2(old: dict[str, Any]) -> dict[str, Any]:
    """v2 -> v3: v3 adds `confidence` and `language_probability`; v2 did not say (None)."""
    data = dict(old["data"])
    for added in ("confidence", "language_probability"):
        data.setdefault(added, None)
    return {**old, "version": 3, "data": data}


@register_upcaster("DeadLetterRetried", from_version=1)
def upcast_dead_letter_retried_v1(old: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2: v2 adds `by`; every v1 retry was an operator's."""
    return {**old, "version": 2, "data": {**old["data"], "by": "operator"}}


def decode(payload: bytes | str | dict[str, Any]) -> Event[Any]:
    """Read any stored event, upcasting old versions to the current model."""
    raw = payload if isinstance(payload, dict) else json.loads(payload)
    if not isinstance(raw, dict):
        raise UnknownEvent("event payload is not a JSON object")
    raw = upcast(raw)
    return CATALOG[raw["type"]].model_validate(raw)
