"""The local stack's data directory: NATS and Postgres data, chosen ports, sandbox credentials.

`.switchboard/` in the current directory unless `SWITCHBOARD_HOME` says otherwise.
Ports are remembered in `ports.json`, so the next `up` finds the same URLs; the sandbox
Twilio credentials are generated once and kept in `sandbox.json` (mode 0600).

A chosen port is bound at once and held until `up` ends: checking that a port is free
and binding it later is a race any other process can win. For our own services the
holding socket listens, and the service is handed that very socket (shared/listen.py):
nobody else can bind a listening port, whatever options they set. For nats-server and
Postgres, which cannot be handed a socket, the holding socket only binds, with
SO_REUSEADDR, so the server binds and listens on it (both set the option too), while a
port chosen by the kernel for anyone else, or an ordinary bind, cannot take it meanwhile.

A port of 0 in `ports.json` means "not the well-known default": the kernel chooses one,
which is then remembered like any other.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from switchboard.infra import port_open

DEFAULT_DIR = ".switchboard"
LISTEN_BACKLOG = 2048  # uvicorn's default; connections wait here while a service (re)starts


@dataclass(frozen=True)
class SandboxCredentials:
    account_sid: str
    auth_token: str


class StackHome:
    def __init__(self, root: Path):
        self.root = root
        self._held: dict[str, socket.socket] = {}

    @classmethod
    def locate(cls, env: Mapping[str, str], cwd: Path) -> StackHome:
        configured = env.get("SWITCHBOARD_HOME")
        return cls((cwd / (configured or DEFAULT_DIR)).resolve())

    @property
    def nats_dir(self) -> Path:
        return self.root / "nats"

    @property
    def nats_auth_file(self) -> Path:
        """The local nats-server's users and permissions, with this run's passwords (mode 0600)."""
        return self.root / "nats-auth.conf"

    @property
    def postgres_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def ports_file(self) -> Path:
        return self.root / "ports.json"

    @property
    def sandbox_file(self) -> Path:
        return self.root / "sandbox.json"

    @property
    def stack_file(self) -> Path:
        """What the running stack serves (URLs), for tools and tests; removed when `up` stops."""
        return self.root / "stack.json"

    def create(self) -> StackHome:
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    def saved_ports(self) -> dict[str, int]:
        try:
            data = json.loads(self.ports_file.read_text())
        except (OSError, ValueError):
            return {}
        return {name: port for name, port in data.items() if isinstance(port, int) and 0 <= port < 65536}

    def choose_port(self, name: str, default: int, host: str = "127.0.0.1", listen: bool = False) -> int:
        """The port remembered for `name`, else `default`, else any free one; held and remembered.

        With `listen`, the holding socket listens; hand it to the service (`listener`)."""
        if name in self._held:
            return self._held[name].getsockname()[1]
        saved = self.saved_ports()
        candidates = (saved[name],) if saved.get(name) == 0 else (saved.get(name), default)
        for candidate in candidates:
            if candidate and not port_open(host, candidate):
                held = _hold(host, candidate, listen)
                if held is not None:
                    break
        else:
            held = _hold(host, 0, listen)
            assert held is not None  # the kernel always has a free port to give
        self._held[name] = held
        port = held.getsockname()[1]
        if saved.get(name) != port:
            self._write_json(self.ports_file, {**saved, name: port})
        return port

    def listener(self, name: str) -> socket.socket | None:
        """The listening socket held for `name`, to hand to its service; None if not listening."""
        held = self._held.get(name)
        if held is None or held.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) != 1:
            return None
        return held

    def release_ports(self) -> None:
        """Stop holding the chosen ports (when `up` ends)."""
        for held in self._held.values():
            held.close()
        self._held.clear()

    def sandbox_credentials(self) -> SandboxCredentials:
        """Generated once per data directory, then read back."""
        try:
            data = json.loads(self.sandbox_file.read_text())
            return SandboxCredentials(data["account_sid"], data["auth_token"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        credentials = SandboxCredentials("AC" + secrets.token_hex(16), secrets.token_hex(16))
        self._write_json(
            self.sandbox_file,
            {"account_sid": credentials.account_sid, "auth_token": credentials.auth_token},
            private=True,
        )
        return credentials

    def write_stack(self, facts: Mapping[str, object]) -> None:
        self._write_json(self.stack_file, facts, private=True)

    def clear_stack(self) -> None:
        self.stack_file.unlink(missing_ok=True)

    def _write_json(self, path: Path, data: Mapping[str, object], private: bool = False) -> None:
        self.create()
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        os.fchmod(descriptor, 0o600 if private else 0o644)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(temporary, path)


def _hold(host: str, port: int, listen: bool = False) -> socket.socket | None:
    """Bind `port` (0: any), listening if asked, so nobody else gets it; None when taken."""
    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        held.bind((host, port))
        if listen:
            held.listen(LISTEN_BACKLOG)
    except OSError:  # taken; listen fails too when another SO_REUSEADDR socket already listens there
        held.close()
        return None
    return held
