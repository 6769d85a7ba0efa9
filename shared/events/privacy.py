"""Privacy: erasure and export requests, what they did, and retention."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.events.envelope import Event, Payload


class PrivacyRequestData(Payload):
    """A user asked, over WhatsApp and after confirming, for their data to be erased or exported."""

    from_: str = Field(alias="from")  # the user, from the signed webhook
    to: str  # the business number they wrote to
    message_sid: str | None = None  # the confirming message
    requested_at: datetime


class ErasureRequested(Event[PrivacyRequestData]):
    """Published on the user's conversation; the erasure removes it with everything else."""

    kind: ClassVar[str] = "privacy"
    type: Literal["ErasureRequested"] = "ErasureRequested"
    version: Literal[1] = 1


class ExportRequested(Event[PrivacyRequestData]):
    kind: ClassVar[str] = "privacy"
    type: Literal["ExportRequested"] = "ExportRequested"
    version: Literal[1] = 1


PRIVACY_RECORDS = "privacy"  # the `conversation` of the records below: they belong to no conversation


class UserDataErasedData(Payload):
    """What remains of an erasure: no number, no conversation id, no content."""

    subject_hash: str  # salted hash of the user's number (shared.privacy.salted_hash)
    requested_by: str  # "user" (over WhatsApp) or the operator's name
    requested_at: datetime
    completed_at: datetime
    conversations: int
    removed: dict[str, int]  # records removed per store


class UserDataErased(Event[UserDataErasedData]):
    kind: ClassVar[str] = "privacy"
    type: Literal["UserDataErased"] = "UserDataErased"
    version: Literal[1] = 1


class UserDataExportedData(Payload):
    subject_hash: str
    requested_by: str
    exported_at: datetime
    records: dict[str, int]  # records exported per store
    file_name: str  # named by the hash, in the operator's export directory


class UserDataExported(Event[UserDataExportedData]):
    kind: ClassVar[str] = "privacy"
    type: Literal["UserDataExported"] = "UserDataExported"
    version: Literal[1] = 1


class RetentionAppliedData(Payload):
    store: str
    before: datetime  # records older than this were removed
    removed: int


class RetentionApplied(Event[RetentionAppliedData]):
    kind: ClassVar[str] = "privacy"
    type: Literal["RetentionApplied"] = "RetentionApplied"
    version: Literal[1] = 1
