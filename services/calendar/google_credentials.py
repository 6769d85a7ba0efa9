"""Google credentials for the calendar backend: a service account or an OAuth user token.

The file's `type` decides: `service_account` (optionally impersonating a Workspace user
through domain-wide delegation) or `authorized_user` (the token file that
`switchboard calendar auth` writes). A user token is refreshed when it expires and the
refreshed token is written back to its file, atomically and readable only by its owner,
so a restart does not start from a stale token (on a read-only file the fresh token is
kept in memory and a warning logged). Nothing here ever runs an interactive flow.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, cast

import httplib2
from google.auth.credentials import Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from google_auth_httplib2 import Request

from shared.logging import get_logger

log = get_logger(__name__)

CALENDAR_SCOPES = ("https://www.googleapis.com/auth/calendar.events",)


class CredentialsError(ValueError):
    """The credentials file is missing, unreadable or of an unknown kind."""


def write_private_json(path: Path, content: str) -> None:
    """Replace `path` with `content` atomically, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"cannot read Google credentials file {path}: {exc}") from exc
    if not isinstance(info, dict):
        raise CredentialsError(f"{path} is not a Google credentials file")
    return info


class CredentialStore:
    """One set of credentials shared by the backend's threads, kept fresh and persisted."""

    def __init__(self, credentials: Credentials, token_file: Path | None = None):
        self.credentials = credentials
        self.token_file = token_file
        self._lock = threading.Lock()
        self._saved_token = credentials.token

    @classmethod
    def from_file(cls, path: Path, token_uri: str | None = None, subject: str | None = None) -> CredentialStore:
        """Load a service-account key or an authorized-user token file.

        `token_uri` replaces the OAuth token endpoint (a local stand-in in tests); the
        library ignores one written in a user token file, so it comes from configuration.
        """
        info = _read(path)
        kind = info.get("type", "authorized_user")
        try:
            if kind == "service_account":
                sa = service_account.Credentials.from_service_account_info(info, scopes=CALENDAR_SCOPES)
                sa = sa.with_subject(subject) if subject else sa
                return cls(sa.with_token_uri(token_uri) if token_uri else sa)
            if kind == "authorized_user":
                user = user_credentials.Credentials.from_authorized_user_info(info, scopes=CALENDAR_SCOPES)
                return cls(user.with_token_uri(token_uri) if token_uri else user, token_file=path)
        except (ValueError, KeyError) as exc:
            raise CredentialsError(f"{path}: {exc}") from exc
        raise CredentialsError(f"{path}: unsupported credentials type {kind!r}")

    def ensure_fresh(self, http: httplib2.Http) -> None:
        """Refresh an expired token before a call (one thread at a time) and persist it."""
        with self._lock:
            if not self.credentials.valid:
                self.credentials.refresh(Request(http))
            self._persist_locked()

    def persist_if_changed(self) -> None:
        """Write the token back if a call refreshed it (for example after a 401)."""
        with self._lock:
            self._persist_locked()

    def _persist_locked(self) -> None:
        token = self.credentials.token
        if self.token_file is None or token == self._saved_token:
            return
        self._saved_token = token
        try:
            # Only an authorized-user token has a token file (see from_file), and only it has to_json.
            user = cast(user_credentials.Credentials, self.credentials)
            write_private_json(self.token_file, user.to_json())
        except OSError as exc:  # a read-only mount: the fresh token still works, in memory
            log.warning("google_token_not_persisted", path=str(self.token_file), error=str(exc))
