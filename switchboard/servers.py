"""NATS and Postgres for `up`: the configured ones when they answer, local ones otherwise.

Local servers keep their data under the stack's home, on ports remembered there, so
conversations survive restarts and the URLs stay the same. A server left running by an
`up` that was killed outright is stopped before a new one starts on the same data.
While `up` runs, `switchboard.keeper` restarts a local server that dies.

A local nats-server requires a user per service (`switchboard.nats_auth`), with new
passwords every run; NATS_URL's own server is used with whatever NATS_USER and
NATS_PASSWORD say.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from switchboard.cluster import NatsCluster
from switchboard.home import StackHome
from switchboard.infra import NatsServer, port_open
from switchboard.local_postgres import LocalPostgres
from switchboard.nats_auth import LocalNatsUsers

NATS_PORT = 4222
NATS_MONITOR_PORT = 8222
POSTGRES_PORT = 5432
LOCAL_DATABASE = "switchboard"
CLUSTER_VARIABLE = "SWITCHBOARD_NATS_CLUSTER"  # true: `up` runs a local three-node JetStream cluster


def wants_cluster(env: Mapping[str, str]) -> bool:
    return env.get(CLUSTER_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def nats_answers(url: str) -> bool:
    """True when any server in a (comma-separated) NATS URL accepts connections."""
    for server in url.split(","):
        parts = urlsplit(server.strip() if "://" in server else f"nats://{server.strip()}")
        if parts.hostname and port_open(parts.hostname, parts.port or NATS_PORT):
            return True
    return False


def postgres_answers(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.hostname:  # a Unix socket: let the first connection tell
        return True
    return port_open(parts.hostname, parts.port or POSTGRES_PORT)


class BackingServers:
    """Decides, starts and finally stops the NATS and Postgres that `up` uses."""

    def __init__(self, home: StackHome, env: Mapping[str, str], note: Callable[[str], None]):
        self.home = home
        self.env = env
        self.note = note
        self.nats_url = ""
        self.nats_monitor_url: str | None = None
        self.cluster = False  # a local three-node cluster: the stream and buckets get three replicas
        self.nats_users: LocalNatsUsers | None = None  # the local server's users, this run's passwords
        self.postgres_url = ""  # the server; the stack may still create its database
        self.local_postgres = False
        self.descriptions: dict[str, str] = {}
        self._started: list[NatsServer | LocalPostgres] = []

    def start(self) -> BackingServers:
        self._start_nats()
        self._start_postgres()
        return self

    @property
    def started(self) -> list[NatsServer | LocalPostgres]:
        """The local servers `up` started (and so must keep running and finally stop)."""
        return list(self._started)

    def stop(self) -> None:
        for server in reversed(self._started):
            self.note(f"stopping {type(server).__name__}")
            server.stop()
        self._started.clear()

    def _start_nats(self) -> None:
        configured = self.env.get("NATS_URL")
        if configured and nats_answers(configured):
            self.nats_url = configured
            self.descriptions["nats"] = "from NATS_URL"
            return
        if configured:
            self.note(f"NATS_URL {without_password(configured)} does not answer; starting a local nats-server instead")
        self.nats_users = LocalNatsUsers.generate(
            self.env.get("STREAM_NAME") or "WHATSAPP", int(self.env.get("PARTITIONS") or 16)
        )
        config = self.nats_users.write(self.home.nats_auth_file)
        if wants_cluster(self.env):
            self._start_nats_cluster(config)
            return
        _stop_leftover_nats(self.home.nats_dir, self.note)
        server = NatsServer(
            self.home.nats_dir, port=self.home.choose_port("nats", NATS_PORT),
            http_port=self.home.choose_port("nats-monitor", NATS_MONITOR_PORT), config_file=config,
        )
        self.note(f"starting nats-server on port {server.port}, monitoring on {server.monitor_url} "
                  f"(data in {self.home.nats_dir})")
        self._started.append(server)  # before start(): an interrupted start still gets stopped
        server.start()
        self.nats_url = server.url
        self.nats_monitor_url = server.monitor_url
        self.descriptions["nats"] = f"local, monitoring {server.monitor_url}, data in {self.home.nats_dir}"

    def _start_nats_cluster(self, config: Path) -> None:
        root = self.home.root / "nats-cluster"
        cluster = NatsCluster(root, ports=lambda key: self.home.choose_port(f"nats-{key}", 0), config_file=config)
        for node in cluster.nodes:
            _stop_leftover_nats(node.store_dir, self.note)
        monitors = ", ".join(str(node.monitor_url) for node in cluster.nodes)
        self.note(f"starting a 3-node JetStream cluster on ports {', '.join(str(n.port) for n in cluster.nodes)}, "
                  f"monitoring on {monitors} (data in {root})")
        self._started.extend(cluster.nodes)
        cluster.start()
        self.nats_url = cluster.url
        self.nats_monitor_url = cluster.nodes[0].monitor_url
        self.cluster = True
        self.descriptions["nats"] = f"local 3-node cluster, monitoring {monitors}, data in {root}"

    def nats_env(self, identity: str) -> dict[str, str]:
        """NATS_USER and NATS_PASSWORD of `identity` on the local server; nothing for NATS_URL's own."""
        return self.nats_users.env(identity) if self.nats_users else {}

    def _start_postgres(self) -> None:
        configured = self.env.get("DATABASE_URL")
        if configured and postgres_answers(configured):
            self.postgres_url = configured
            self.descriptions["postgres"] = "from DATABASE_URL"
            return
        if configured:
            self.note(f"DATABASE_URL {without_password(configured)} does not answer; starting a local Postgres instead")
        _stop_leftover_postgres(self.home.postgres_dir, self.note)
        server = LocalPostgres(self.home.postgres_dir, port=self.home.choose_port("postgres", POSTGRES_PORT))
        self.note(f"starting Postgres on port {server.port} (data in {self.home.postgres_dir})")
        self._started.append(server)
        server.start()
        self.postgres_url = server.url
        self.local_postgres = True
        self.descriptions["postgres"] = f"local, data in {self.home.postgres_dir}"


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _stop_leftover(pid: int, what: str, sig: int, note: Callable[[str], None]) -> None:
    note(f"{what} from an earlier `up` is still running (pid {pid}); stopping it first")
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    if not _wait_gone(pid, 30):
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5)


def _stop_leftover_postgres(data_dir: Path, note: Callable[[str], None]) -> None:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if _alive(pid) and "postgres" in _command_line(pid):
        _stop_leftover(pid, "Postgres", signal.SIGINT, note)  # SIGINT: fast shutdown


def _stop_leftover_nats(store_dir: Path, note: Callable[[str], None]) -> None:
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: nothing cheap to look at
        return
    wanted = str(store_dir)
    for entry in proc.iterdir():
        if entry.name.isdigit():
            words = _command_line(int(entry.name)).split("\0")
            if words and words[0].endswith("nats-server") and wanted in words:
                _stop_leftover(int(entry.name), "nats-server", signal.SIGTERM, note)


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""
