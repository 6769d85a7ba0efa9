"""The supervisor `switchboard up` runs services under, driven with tiny `python -c` children."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from switchboard.supervisor import ChildSpec, LogPrinter, RestartPolicy, Supervisor
from tests.waiting import scaled

FAST = RestartPolicy(first_delay_s=0.01, max_delay_s=0.05, stable_after_s=5.0, crash_loop_after=3)


def child(name: str, code: str) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", textwrap.dedent(code)])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


async def run_for(supervisor: Supervisor, seconds: float):
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    return await asyncio.wait_for(supervisor.run(stop), seconds + 30)


async def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_each_line_is_prefixed_with_its_service_name():
    out = io.StringIO()
    printer = LogPrinter(out, ["gateway", "audit"])
    supervisor = Supervisor(
        [child("gateway", "print('listening'); import sys; print('oops', file=sys.stderr)"),
         child("audit", "print('consuming')")],
        printer, FAST,
    )
    await run_for(supervisor, 1.0)
    lines = out.getvalue().splitlines()
    assert "gateway | listening" in lines
    assert "gateway | oops" in lines  # stderr too
    assert "audit   | consuming" in lines


def test_colour_wraps_only_the_name():
    out = io.StringIO()
    LogPrinter(out, ["gateway"], colour=True).line("gateway", "hello")
    text = out.getvalue()
    assert text.startswith("\033[") and text.endswith("\033[0m | hello\n")
    assert "gateway" in text


async def test_a_crash_looping_child_is_never_given_up_on():
    out = io.StringIO()
    supervisor = Supervisor([child("flaky", "print('starting'); raise SystemExit(3)")], LogPrinter(out, ["flaky"]), FAST)
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    await wait_until(lambda: supervisor.starts["flaky"] >= 6, timeout=30)
    assert not supervisor.given_up
    text = out.getvalue()
    assert "flaky exited with code 3" in text and "restarting in" in text
    assert "crash loop (3 short runs in a row" in text and "retrying until it stays up" in text
    stop.set()
    outcome = await asyncio.wait_for(running, 30)
    assert not outcome.gave_up and not outcome.all_failed


def test_the_backoff_doubles_up_to_its_cap():
    policy = RestartPolicy(first_delay_s=0.5, max_delay_s=30.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert policy.delay(50) == 30.0


async def test_a_child_that_crashes_until_its_dependency_appears_comes_up(tmp_path: Path):
    dependency = tmp_path / "dependency-up"
    code = f"""
        import pathlib, sys, time
        if not pathlib.Path({str(dependency)!r}).exists():
            sys.exit(1)
        print('serving', flush=True)
        time.sleep(60)
    """
    out = io.StringIO()
    supervisor = Supervisor([child("worker", code)], LogPrinter(out, ["worker"]), FAST)
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    await wait_until(lambda: supervisor.starts["worker"] > FAST.crash_loop_after, timeout=30)  # past the old give-up point
    dependency.touch()
    await wait_until(lambda: "serving" in out.getvalue(), timeout=30)
    assert alive(supervisor.pids["worker"]) and not supervisor.given_up
    stop.set()
    await asyncio.wait_for(running, 30)


async def test_a_child_that_crashed_once_is_running_again(tmp_path: Path):
    marker = tmp_path / "crashed-once"
    code = f"""
        import pathlib, time
        marker = pathlib.Path({str(marker)!r})
        if not marker.exists():
            marker.touch()
            raise SystemExit(1)
        print('second life', flush=True)
        time.sleep(60)
    """
    out = io.StringIO()
    supervisor = Supervisor([child("worker", code)], LogPrinter(out, ["worker"]), FAST)
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    await wait_until(lambda: "second life" in out.getvalue())
    assert supervisor.starts["worker"] == 2 and alive(supervisor.pids["worker"])
    stop.set()
    outcome = await asyncio.wait_for(running, 30)
    assert not outcome.gave_up and not outcome.killed


async def test_a_misconfigured_child_does_not_stop_the_other_services():
    out = io.StringIO()
    supervisor = Supervisor(
        [child("broken", "raise SystemExit(78)"), child("healthy", "import time; time.sleep(60)")],
        LogPrinter(out, ["broken", "healthy"]), FAST,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    await wait_until(lambda: "broken" in supervisor.given_up)
    await wait_until(lambda: "healthy" in supervisor.pids)
    assert alive(supervisor.pids["healthy"])
    assert "the other services keep running" in out.getvalue()
    stop.set()
    outcome = await asyncio.wait_for(running, 30)
    assert list(outcome.gave_up) == ["broken"] and not outcome.all_failed


async def test_bad_configuration_exit_code_is_not_retried():
    supervisor = Supervisor([child("misconfigured", "raise SystemExit(78)")], LogPrinter(io.StringIO(), ["misconfigured"]), FAST)
    outcome = await asyncio.wait_for(supervisor.run(asyncio.Event()), 30)
    assert supervisor.starts["misconfigured"] == 1
    assert "bad configuration" in outcome.gave_up["misconfigured"]
    assert outcome.all_failed  # nothing left running: supervision ended by itself


async def test_stop_terminates_every_child_and_kills_one_that_ignores_sigterm():
    ignores_term = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('ready', flush=True)
        time.sleep(60)
    """
    out = io.StringIO()
    supervisor = Supervisor(
        [child("polite", "print('ready', flush=True); import time; time.sleep(60)"), child("stubborn", ignores_term)],
        LogPrinter(out, ["polite", "stubborn"]), FAST, stop_timeout_s=1.0,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    await wait_until(lambda: out.getvalue().count("| ready") == 2)
    pids = supervisor.pids
    started = time.monotonic()
    stop.set()
    outcome = await asyncio.wait_for(running, 30)
    assert time.monotonic() - started < 5
    assert outcome.killed == ["stubborn"]
    assert not any(alive(pid) for pid in pids.values())


SIGNALLED_SCRIPT = """
import asyncio, sys
from switchboard.supervisor import ChildSpec, LogPrinter, Supervisor, supervise_until_signalled

sleeper = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(60)"
if sys.argv[1:] == ["stubborn"]:
    sleeper = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + sleeper
specs = [ChildSpec(name, [sys.executable, "-c", sleeper]) for name in ("one", "two")]
outcome = asyncio.run(supervise_until_signalled(Supervisor(specs, LogPrinter(sys.stdout, ["one", "two"]))))
sys.exit(1 if outcome.gave_up or outcome.killed else 0)
"""


def start_signalled(*args: str) -> tuple[subprocess.Popen, list[int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGNALLED_SCRIPT, *args], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    pids = []
    deadline = time.monotonic() + scaled(20)
    while len(pids) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if " | pid " in line:
            pids.append(int(line.rsplit(" ", 1)[1]))
    return proc, pids


def test_ctrl_c_stops_every_child_and_exits_cleanly():
    proc, pids = start_signalled()
    try:
        assert len(pids) == 2, "children did not start"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert "SIGINT: stopping" in proc.stdout.read()
        assert not any(alive(pid) for pid in pids)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_children_go_when_the_supervisor_is_killed_outright():
    if not sys.platform.startswith("linux"):
        return  # relies on PR_SET_PDEATHSIG
    proc, pids = start_signalled()
    try:
        assert len(pids) == 2, "children did not start"
        proc.kill()
        proc.wait(5)
        deadline = time.monotonic() + scaled(10)
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in pids)
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_second_ctrl_c_kills_children_that_ignore_the_first():
    proc, pids = start_signalled("stubborn")
    try:
        assert len(pids) == 2, "children did not start"
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)  # a duplicate of the first: not yet "kill now"
        time.sleep(1.5)
        assert proc.poll() is None and all(alive(pid) for pid in pids)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
        assert time.monotonic() - started < 10
        assert "killing what is left" in proc.stdout.read()
        assert not any(alive(pid) for pid in pids)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_multi_line_note_is_prefixed_on_every_line():
    out = io.StringIO()
    LogPrinter(out, ["gateway"]).note("migration failed:\ndetails")
    assert out.getvalue() == "up      | migration failed:\nup      | details\n"
