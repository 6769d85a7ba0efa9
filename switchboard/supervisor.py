"""Supervising child processes: prefixed logs, restarts with backoff, a bounded stop.

`switchboard up` runs every service through a `Supervisor`. Each child gets its own
process group, so a terminal's Ctrl-C reaches only `up`, which then stops the children
in order: SIGTERM to each, a bounded wait, SIGKILL for whatever is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence, TextIO

EX_CONFIG = 78  # sysexits.h: a child exiting with this has bad configuration; restarting cannot help
LINE_LIMIT = 1 << 20
# The same signal often arrives twice at once (to the process and to its group, as
# `timeout` and some shells send it); only a later one means "kill now".
SECOND_SIGNAL_AFTER_S = 1.0
COLOURS = ("36", "32", "33", "35", "34", "96", "92", "93", "95", "94")


@dataclass(frozen=True)
class ChildSpec:
    """One supervised command."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    pass_fds: tuple[int, ...] = ()  # kept open in the child, at the same numbers


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff between restarts: doubling from `first_delay_s` up to `max_delay_s`.

    A run longer than `stable_after_s` resets the backoff. After `crash_loop_after`
    short runs in a row the child is reported as crash-looping, and is still retried
    at the capped delay: what it waits for (NATS, Postgres, a port) may come back.
    Only `EX_CONFIG` (bad configuration) stops the retries.
    """

    first_delay_s: float = 0.5
    max_delay_s: float = 30.0
    stable_after_s: float = 30.0
    crash_loop_after: int = 5

    def delay(self, crashes: int) -> float:
        return min(self.first_delay_s * 2 ** max(crashes - 1, 0), self.max_delay_s)


class LogPrinter:
    """Writes `name | line`, names padded to one width and optionally coloured."""

    def __init__(self, out: TextIO, names: Sequence[str], colour: bool = False, own_name: str = "up"):
        self.out = out
        self.own_name = own_name
        self.width = max(len(name) for name in [own_name, *names])
        self.colour = colour
        self._colours = {name: COLOURS[index % len(COLOURS)] for index, name in enumerate(names)}
        self._colours[own_name] = "1"

    def line(self, name: str, text: str) -> None:
        label = name.ljust(self.width)
        if self.colour:
            label = f"\033[{self._colours.get(name, '0')}m{label}\033[0m"
        try:
            self.out.write("".join(f"{label} | {part}\n" for part in text.splitlines() or [""]))
            self.out.flush()
        except (BrokenPipeError, ValueError):  # our own output went away; keep supervising
            pass

    def note(self, text: str) -> None:
        self.line(self.own_name, text)


@dataclass
class Outcome:
    """How supervision ended, and which children were given up on (name: why)."""

    gave_up: dict[str, str] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)
    all_failed: bool = False  # it ended because no child was left running, not on request


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGTERM the child if `up` itself is killed."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    parent = os.getpid()
    prctl = libc.prctl  # resolved here: the child, forked from a threaded parent, must take no locks
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the hook ran
            os._exit(1)

    return hook


class Supervisor:
    """Keeps every child running until asked to stop.

    A child that keeps crashing is restarted with a capped backoff and reported as
    crash-looping; one that exits with `EX_CONFIG` is left stopped and reported, and
    the others go on. When none is left, supervision ends by itself.
    """

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        printer: LogPrinter,
        policy: RestartPolicy = RestartPolicy(),
        stop_timeout_s: float = 25.0,
    ):
        self.specs = list(specs)
        self.printer = printer
        self.policy = policy
        self.stop_timeout_s = stop_timeout_s
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.starts: dict[str, int] = {spec.name: 0 for spec in self.specs}
        self._stopping = asyncio.Event()
        self._hurry = asyncio.Event()
        self._outcome = Outcome()

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items() if proc.returncode is None}

    @property
    def given_up(self) -> dict[str, str]:
        return dict(self._outcome.gave_up)

    def hurry(self) -> None:
        """Stop waiting for children to exit on their own: SIGKILL them now."""
        self._hurry.set()

    async def run(self, stop: asyncio.Event) -> Outcome:
        tasks = [asyncio.create_task(self._keep_running(spec), name=spec.name) for spec in self.specs]
        wait_stop = asyncio.create_task(stop.wait())
        wait_failure = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({wait_stop, wait_failure}, return_when=asyncio.FIRST_COMPLETED)
        wait_stop.cancel()
        wait_failure.cancel()
        await self._stop_all(tasks)
        return self._outcome

    async def _keep_running(self, spec: ChildSpec) -> None:
        crashes = 0
        while not self._stopping.is_set():
            try:
                proc = await self._spawn(spec)
            except OSError as exc:
                self._give_up(spec.name, f"could not start: {exc}")
                return
            started = time.monotonic()
            pump = asyncio.create_task(self._pump(spec.name, proc.stdout))
            code = await proc.wait()
            _kill_group(proc)  # whatever it started in its group goes with it
            with contextlib.suppress(asyncio.TimeoutError):
                # a grandchild may hold the pipe open after the child exits
                await asyncio.wait_for(asyncio.shield(pump), 1.0)
            pump.cancel()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - started
            crashes = crashes + 1 if ran < self.policy.stable_after_s else 1
            what = f"exited with {describe_exit(code)} after {ran:.1f}s"
            if code == EX_CONFIG:
                self._give_up(spec.name, f"{what}: bad configuration (see above); fix it and restart `up`")
                return
            delay = self.policy.delay(crashes)
            if crashes >= self.policy.crash_loop_after:
                self.printer.note(
                    f"{spec.name} {what}; crash loop ({crashes} short runs in a row, see its log above); "
                    f"restarting in {delay:.1f}s and retrying until it stays up"
                )
            else:
                self.printer.note(f"{spec.name} {what}; restarting in {delay:.1f}s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _spawn(self, spec: ChildSpec) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(spec.env) if spec.env is not None else None,
            cwd=spec.cwd,
            pass_fds=spec.pass_fds,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
            limit=LINE_LIMIT,
        )
        self.processes[spec.name] = proc
        self.starts[spec.name] += 1
        if self._stopping.is_set():  # the stop began while it was starting
            _signal(proc, signal.SIGTERM)
        return proc

    async def _pump(self, name: str, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        while True:
            try:
                chunk = await stream.readline()
            except ValueError:  # a line longer than LINE_LIMIT: print it in pieces
                chunk = await stream.read(LINE_LIMIT)
            if not chunk:
                return
            self.printer.line(name, chunk.decode("utf-8", errors="replace").rstrip("\r\n"))

    def _give_up(self, name: str, reason: str) -> None:
        self._outcome.gave_up[name] = reason
        if len(self._outcome.gave_up) < len(self.specs):
            self.printer.note(f"{name} {reason}; the other services keep running")
            return
        self.printer.note(f"{name} {reason}; no service is left running")
        self._outcome.all_failed = True
        self._stopping.set()

    async def _stop_all(self, tasks: list[asyncio.Task]) -> None:
        self._stopping.set()
        for proc in self.processes.values():
            _signal(proc, signal.SIGTERM)
        finished: asyncio.Future[Any] = asyncio.gather(*tasks, return_exceptions=True)
        hurry = asyncio.create_task(self._hurry.wait())
        await asyncio.wait({finished, hurry}, timeout=self.stop_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        hurry.cancel()
        for name, proc in self.processes.items():
            if proc.returncode is None:
                self.printer.note(f"{name} did not stop in time; killing it")
                self._outcome.killed.append(name)
                _kill_group(proc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(finished, 10)


def _signal(proc: asyncio.subprocess.Process, sig: int) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    _signal(proc, signal.SIGKILL)


async def supervise_until_signalled(supervisor: Supervisor, alongside: Awaitable[object] | None = None) -> Outcome:
    """Run `supervisor` until SIGINT, SIGTERM or SIGHUP; a second signal kills stragglers.

    `alongside` (say, waiting for readiness and announcing it) runs meanwhile and is
    cancelled when supervision ends.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    first_at: list[float] = []

    def on_signal(sig: signal.Signals) -> None:
        if not first_at:
            first_at.append(time.monotonic())
            supervisor.printer.note(f"{sig.name}: stopping every service (again to kill at once)")
            stop.set()
        elif time.monotonic() - first_at[0] >= SECOND_SIGNAL_AFTER_S:
            supervisor.printer.note("second signal: killing what is left")
            supervisor.hurry()

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for sig in handled:
        loop.add_signal_handler(sig, on_signal, sig)
    side = asyncio.ensure_future(alongside) if alongside is not None else None
    try:
        return await supervisor.run(stop)
    finally:
        if side is not None:
            side.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await side
        for sig in handled:
            loop.remove_signal_handler(sig)
