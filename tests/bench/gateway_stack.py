"""The processes under test, and what we read from them: CPU time, metrics, stream counts."""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from switchboard.infra import free_port, nats_server_binary

REPO = Path(__file__).resolve().parents[2]


class ServerProcess:
    """A child process serving HTTP on a loopback port, with its output in a log file."""

    def __init__(self, name: str, cmd: list[str], port: int, log_path: Path, env: dict[str, str] | None = None):
        self.name, self.cmd, self.port, self.log_path, self.env = name, cmd, port, log_path, env
        self.proc: subprocess.Popen | None = None
        self.cwd = REPO  # another checkout runs that checkout's code (before/after comparisons)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready_path: str | None = None, timeout: float = 30) -> ServerProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.cmd, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if ready_path is None and _port_open(self.port):
                return self
            if ready_path is not None and http_get(self.port, ready_path)[0] == 200:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready on port {self.port} within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def gateway_process(workdir: Path, *, nats_url: str, token: str, public_base_url: str,
                    command: list[str] | None = None) -> ServerProcess:
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "TWILIO_AUTH_TOKEN": token,
        "PUBLIC_BASE_URL": public_base_url,
        "NATS_URL": nats_url,
        "LOG_LEVEL": "warning",
        "SWITCHBOARD_ENV": "local",
        "STREAM_NAME": "WHATSAPP",
    }
    cmd = command or [sys.executable, "-m", "services.gateway"]
    return ServerProcess("gateway", cmd, port, workdir / "gateway.log", env)


def responder_process(kind: str, workdir: Path) -> ServerProcess:
    port = free_port()
    cmd = [sys.executable, "-m", "tests.bench.gateway_responders", kind, "--port", str(port)]
    return ServerProcess(f"{kind} responder", cmd, port, workdir / f"responder-{kind}.log")


_STORED = re.compile(r'^switchboard_webhooks_total\{endpoint="messages",outcome="(\w+)"\} ([0-9.e+]+)$', re.M)


def webhook_outcomes(port: int) -> dict[str, int]:
    """The gateway's `switchboard_webhooks_total` for inbound messages, by outcome."""
    status, text = http_get(port, "/metrics")
    if status != 200:
        return {}
    return {outcome: int(float(value)) for outcome, value in _STORED.findall(text)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and every process in its process group.

    Servers start in their own session, so a gateway run with several uvicorn workers
    counts all of them.
    """
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process has gone
        if stat.parent.name == str(pid) or int(fields[2]) == pid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time all cores together have spent busy so far (everything but idle and iowait)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def other_load_percent(our_pids: list[int], interval_s: float = 1.0) -> float:
    """CPU used by processes that are not ours over `interval_s`, in % of one core."""
    ours = lambda: sum(cpu_seconds(pid) for pid in our_pids) + time.process_time()  # noqa: E731
    busy0, ours0 = machine_busy_seconds(), ours()
    time.sleep(interval_s)
    return max(0.0, (machine_busy_seconds() - busy0) - (ours() - ours0)) / interval_s * 100


def wait_until_quiet(our_pids: list[int], *, threshold: float, max_wait_s: float) -> float:
    """Wait (up to `max_wait_s`) for other processes to leave the CPUs alone; the last load seen."""
    deadline = time.monotonic() + max_wait_s
    while True:
        load = other_load_percent(our_pids)
        if load <= threshold or time.monotonic() >= deadline:
            return load


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    memory_gb: float
    kernel: str
    python: str
    nats_server: str
    wrk: str
    libraries: str

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("CPU", f"{self.cpu}, {self.cores} cores"),
            ("memory", f"{self.memory_gb:.1f} GB"),
            ("kernel", self.kernel),
            ("Python", self.python),
            ("nats-server", self.nats_server),
            ("wrk", self.wrk),
            ("libraries", self.libraries),
        ]


def machine() -> Machine:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"^MemTotal:\s+(\d+)", meminfo, re.M).group(1))  # type: ignore[union-attr]
    nats = subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    wrk = shutil.which("wrk")
    wrk_version = ""
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True)
        wrk_version = (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0]
    libraries = ", ".join(
        f"{name} {version(name)}" for name in ("uvicorn", "uvloop", "httptools", "starlette", "fastapi", "nats-py", "pydantic", "twilio")
    )
    return Machine(
        cpu=model.group(1).strip() if model else platform.processor() or "unknown",
        cores=os.cpu_count() or 0,
        memory_gb=total_kb / 1024 / 1024,
        kernel=platform.release(),
        python=platform.python_version(),
        nats_server=nats.removeprefix("nats-server: "),
        wrk=wrk_version,
        libraries=libraries,
    )
