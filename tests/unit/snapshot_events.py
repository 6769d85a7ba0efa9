"""Frozen JSON schemas of every published (event type, version) in `shared.events`.

    python -m tests.unit.snapshot_events           # list what is missing or changed
    python -m tests.unit.snapshot_events --write   # write snapshots for NEW versions only

A snapshot, once committed, is the contract for that version: this script never rewrites
one. If a published version's schema changed, add a new version with an upcaster instead
(`tests/unit/test_event_versions.py` fails until you do). Snapshots hold only the wire
contract (titles and descriptions, i.e. class names' prose and docstrings, are dropped).
If a pydantic upgrade changes how it writes every schema, check that the diff is only
form, then delete the snapshots and `--write` them again in a commit of its own.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from shared.events import VERSIONS, Event

SNAPSHOTS = Path(__file__).parent / "event_schemas"


def _wire_only(node: Any) -> Any:
    # Titles and descriptions come from class names and docstrings: prose, not the contract.
    if isinstance(node, dict):
        return {key: _wire_only(value) for key, value in node.items() if key not in ("title", "description")}
    if isinstance(node, list):
        return [_wire_only(value) for value in node]
    return node


def schema_of(cls: type[Event]) -> str:
    """The wire schema of one event version as stable text: wire names, sorted keys, no prose."""
    schema = _wire_only(cls.model_json_schema(by_alias=True, mode="validation"))
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def snapshot_path(event_type: str, version: int) -> Path:
    return SNAPSHOTS / f"{event_type}.v{version}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write snapshots of versions that have none")
    args = parser.parse_args(argv)
    status = 0
    for (event_type, version), cls in sorted(VERSIONS.items()):
        path = snapshot_path(event_type, version)
        if not path.exists():
            if args.write:
                SNAPSHOTS.mkdir(exist_ok=True)
                path.write_text(schema_of(cls))
                print(f"wrote   {path.name}")
            else:
                print(f"missing {path.name}")
                status = 1
        elif path.read_text() != schema_of(cls):
            print(f"CHANGED {path.name}: a published version changed; add v{version + 1} and an upcaster")
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
