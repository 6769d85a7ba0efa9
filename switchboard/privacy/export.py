"""Exporting everything held about one user as one JSON file for the operator.

The file is named by the salted hash of the number (no number in a file name), written
with mode 0600 into the export directory, and never sent over WhatsApp: when the user
asked, the operator is told (a warning in the log and a `UserDataExported` event) and
hands it over through a channel where identity can be checked.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Sequence

from shared.events import PRIVACY_RECORDS, UserDataExported, UserDataExportedData
from shared.ids import normalise_address
from shared.privacy import salted_hash
from switchboard.privacy.erasure import PrivacyDeps, subject_for


def _write(directory: Path, name: str, document: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(document, file, indent=2, ensure_ascii=False, default=str)
    return path


def _count(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return sum(_count(v) if isinstance(v, (list, dict)) else 1 for v in value.values())
    return 0


async def export_user(deps: PrivacyDeps, number: str, requested_by: str, directory: Path,
                      business_numbers: Sequence[str] = ()) -> Path:
    """Write the export file and record that it was made; returns its path."""
    number = normalise_address(number)
    subject = await subject_for(deps, number, business_numbers)
    now = deps.clock.now()
    document: dict[str, Any] = {
        "number": number, "conversations": list(subject.conversations), "exported_at": now.isoformat(),
        "stores": {store.name: await store.export(subject) for store in deps.stores},
    }
    key = salted_hash(number, deps.salt)
    path = await asyncio.to_thread(_write, directory, f"export-{key}-{now.strftime('%Y%m%dT%H%M%SZ')}.json", document)
    records = {name: _count(value) for name, value in document["stores"].items()}
    await deps.events.publish(UserDataExported(conversation=PRIVACY_RECORDS, data=UserDataExportedData(
        subject_hash=key, requested_by=requested_by, exported_at=now, records=records, file_name=path.name,
    )), msg_id=f"exported:{path.name}")
    return path
