"""The local nats-server's users: one per Switchboard service, new passwords every run.

`switchboard up` (and the tests) write the server's `authorization` block from the
permissions table in `shared.nats_permissions`, with a random password per identity,
into a file only the owner can read. The passwords live as long as the run: each
service gets its own in its environment, and the operator's (`admin`) goes into the
stack's `stack.json` (also owner-only), where the CLI tools find it.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.nats_permissions import ADMIN, IDENTITIES, authorization


@dataclass(frozen=True)
class LocalNatsUsers:
    """The passwords of one run, and the server configuration that checks them."""

    passwords: dict[str, str]
    stream: str = "WHATSAPP"
    partitions: int = 16

    @classmethod
    def generate(cls, stream: str = "WHATSAPP", partitions: int = 16) -> LocalNatsUsers:
        return cls({identity: secrets.token_urlsafe(24) for identity in IDENTITIES}, stream, partitions)

    def server_config(self) -> str:
        """A nats-server configuration file (NATS reads JSON) with the `authorization` block."""
        return json.dumps({"authorization": authorization(self.passwords, self.stream, self.partitions)}, indent=2)

    def write(self, path: Path) -> Path:
        """Write the configuration, readable by its owner only (it holds the passwords)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(self.server_config() + "\n")
        os.replace(temporary, path)
        return path

    def env(self, identity: str) -> dict[str, str]:
        """NATS_USER and NATS_PASSWORD for one identity."""
        return {"NATS_USER": identity, "NATS_PASSWORD": self.passwords[identity]}

    @property
    def admin(self) -> dict[str, str]:
        return self.env(ADMIN)
