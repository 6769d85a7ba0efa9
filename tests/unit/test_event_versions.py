"""Published event versions cannot drift, old ones stay readable, and the docs tell the truth."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from shared import events as ev
from shared.events import CATALOG, VERSIONS, Event, MessageReceivedData, UnknownEvent, decode
from shared.ids import conversation_id
from tests.unit.snapshot_events import SNAPSHOTS, schema_of, snapshot_path

ROOT = Path(__file__).resolve().parents[2]
CONVERSATION = conversation_id("+14155238886", "+34600111222")

# MessageTranscribed v1 exactly as the catalog first published it (commit aceb493).
V1_AS_FIRST_PUBLISHED = {
    "id": "01JDXV1EVENT",
    "type": "MessageTranscribed",
    "version": 1,
    "conversation": CONVERSATION,
    "occurred_at": "2026-11-25T14:00:00Z",
    "correlation_id": "01JDXRECEIVED",
    "causation_id": "01JDXRECEIVED",
    "data": {"message_sid": "SM1", "text": "hola", "source": "voice", "engine": "whisper-tiny.en",
             "language": "es", "duration_s": 2.5, "failure": None},
}


@pytest.mark.parametrize(("event_type", "version"), sorted(VERSIONS))
def test_every_published_version_matches_its_frozen_snapshot(event_type: str, version: int):
    path = snapshot_path(event_type, version)
    assert path.exists(), f"no snapshot for {event_type} v{version}: run python -m tests.unit.snapshot_events --write"
    assert schema_of(VERSIONS[(event_type, version)]) == path.read_text(), (
        f"{event_type} v{version} was published and its schema changed: "
        f"restore it, and add v{version + 1} with an upcaster instead"
    )


def test_no_published_version_disappears():
    on_disk = {path.name for path in SNAPSHOTS.glob("*.json")}
    known = {snapshot_path(t, v).name for t, v in VERSIONS}
    assert on_disk - known == set(), "a published version lost its model; keep it in SUPERSEDED"


def test_a_changed_field_in_a_published_version_is_caught():
    """The check above is not vacuous: widening one field of MessageReceived v1 changes its schema."""

    class ChangedData(MessageReceivedData):
        body: str | None = ""  # type: ignore[assignment]

    class ChangedReceived(Event[ChangedData]):
        kind: ClassVar[str] = "received"
        type: Literal["MessageReceived"] = "MessageReceived"
        version: Literal[1] = 1

    assert schema_of(ChangedReceived) != snapshot_path("MessageReceived", 1).read_text()


@pytest.mark.parametrize("event_type", sorted(CATALOG))
def test_every_version_up_to_the_current_one_is_known_and_upcast(event_type: str):
    current = CATALOG[event_type]
    assert current.current_version == current.model_fields["version"].default
    versions = sorted(v for t, v in VERSIONS if t == event_type)
    assert versions == list(range(1, current.current_version + 1))
    for old in versions[:-1]:
        assert (event_type, old) in ev._UPCASTERS, f"{event_type} v{old} has no upcaster to v{old + 1}"


def test_message_transcribed_v1_as_first_published_decodes_as_the_current_version():
    ev.MessageTranscribedV1.model_validate(V1_AS_FIRST_PUBLISHED)  # it really is a v1 payload
    event = decode(json.dumps(V1_AS_FIRST_PUBLISHED))
    assert isinstance(event, ev.MessageTranscribed) and event.version == 3
    assert (event.data.confidence, event.data.language_probability) == (None, None)
    assert event.data.text == "hola" and event.data.duration_s == 2.5 and event.data.language == "es"
    assert (event.data.from_, event.data.to, event.data.failure_code, event.data.failure_reply) == (None,) * 4
    assert event.id == V1_AS_FIRST_PUBLISHED["id"] and event.causation_id == "01JDXRECEIVED"


def test_v1_written_while_it_was_changed_in_place_keeps_its_extra_fields():
    raw = json.loads(json.dumps(V1_AS_FIRST_PUBLISHED))
    raw["data"].update({"from": "+34600111222", "to": "+14155238886", "failure_code": "no_speech",
                        "failure_reply": "I couldn't hear anything."})
    event = decode(raw)
    assert event.version == 3
    assert (event.data.from_, event.data.to, event.data.failure_code) == ("+34600111222", "+14155238886", "no_speech")


def test_the_v1_to_v2_upcaster_is_pure():
    before = json.loads(json.dumps(V1_AS_FIRST_PUBLISHED))
    first = ev.upcast_message_transcribed_v1(before)
    assert before == V1_AS_FIRST_PUBLISHED  # its input is untouched
    assert first == ev.upcast_message_transcribed_v1(before)  # same input, same output
    assert first["version"] == 2 and set(first["data"]) >= {"from", "to", "failure_code", "failure_reply"}


def test_message_transcribed_v2_decodes_as_v3_and_the_upcaster_is_pure():
    v2 = ev.upcast_message_transcribed_v1(json.loads(json.dumps(V1_AS_FIRST_PUBLISHED)))
    v2["data"].update({"from": "+34600111222", "to": "+14155238886"})
    ev.MessageTranscribedV2.model_validate(v2)  # a v2 payload as published
    before = json.loads(json.dumps(v2))
    third = ev.upcast_message_transcribed_v2(before)
    assert before == v2 and third == ev.upcast_message_transcribed_v2(before)
    assert third["version"] == 3 and (third["data"]["confidence"], third["data"]["language_probability"]) == (None, None)
    event = decode(v2)
    assert event.version == 3 and event.data.from_ == "+34600111222" and event.data.confidence is None


def test_a_version_newer_than_this_code_knows_is_refused_clearly():
    raw = {**V1_AS_FIRST_PUBLISHED, "version": 4}
    with pytest.raises(UnknownEvent, match=r"MessageTranscribed v4 is newer than this code knows \(v3\)"):
        decode(raw)
    with pytest.raises(UnknownEvent, match="no valid version"):
        decode({**V1_AS_FIRST_PUBLISHED, "version": "2"})


def test_only_the_current_version_is_ever_written():
    old = ev.MessageTranscribedV1.model_validate(V1_AS_FIRST_PUBLISHED)
    with pytest.raises(ValueError, match="not the current version"):
        old.to_bytes()
    current = decode(V1_AS_FIRST_PUBLISHED)
    assert json.loads(current.to_bytes())["version"] == 3 == ev.MessageTranscribed.current_version


def catalog_rows(markdown: str) -> dict[str, tuple[str, str]]:
    """`Type` -> (kind, version) from the events table of docs/architecture.md."""
    rows: dict[str, tuple[str, str]] = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`\w+`", cells[0]) and re.fullmatch(r"`[A-Z]\w+`", cells[1]):
            rows[cells[1].strip("`")] = (cells[0].strip("`"), cells[2])
    return rows


def test_the_docs_event_catalog_matches_the_code():
    rows = catalog_rows((ROOT / "docs" / "architecture.md").read_text())
    expected = {name: (cls.kind, str(cls.current_version)) for name, cls in CATALOG.items()}
    assert rows == expected
