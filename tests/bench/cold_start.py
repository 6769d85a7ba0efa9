"""Cold start: seconds from exec to /readyz 200 per service, and `switchboard up` to "Switchboard is up".

    python -m tests.bench.cold_start                      # this checkout, 3 runs each
    python -m tests.bench.cold_start --repo /tmp/before   # another checkout (`git archive <rev> | tar -x -C /tmp/before`)
    python -m tests.bench.cold_start --runs 3 --up-runs 3 --only agent,audit
    python -m tests.bench.cold_start --bad-config-only --runs 5   # exec to exit 78, no servers

One nats-server and one Postgres (embedded wheel, fsync off) are started for the service
runs and the stream is provisioned as `up` does; each service runs once unrecorded first (its stream, schema and migrations exist
after that, as on every start but the first in production), then `--runs` timed starts.
Each timed start is `python -m services.<name>` with the environment `switchboard up`
would give it, polled every 20 ms until `GET /readyz` answers 200, then SIGTERM.

`switchboard up` runs under a fresh SWITCHBOARD_HOME per run with NATS_URL and
DATABASE_URL on closed ports, so it starts its own nats-server and Postgres (initdb
included) — the time a developer waits after `make up` on a clean checkout.

Prints one Markdown table; the load average (`os.getloadavg()`) before and after is part
of the result, since this machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from switchboard.infra import LocalPostgres, NatsServer, free_port
from switchboard.provisioning import provision_stream, settings_from

HERE = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "audit", "transcriber", "agent", "calendar", "outbound")
UP_READY = "Switchboard is up."


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status
    except OSError:
        return 0


def service_env(service: str, repo: Path, nats_url: str, database_url: str, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OPENAI_", "TWILIO_", "TAVILY_", "AGENT_", "CALENDAR_", "TRANSCRIBER_"))}
    env.update(
        PYTHONPATH=str(repo), NATS_URL=nats_url, DATABASE_URL=database_url, LOG_LEVEL="warning",
        HEALTH_HOST="127.0.0.1", HEALTH_PORT=str(port), PUBLIC_BASE_URL="http://127.0.0.1:9",
        TWILIO_API_BASE_URL="http://127.0.0.1:9", TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="cold-start-bench",
    )
    if service == "gateway":
        env.update(GATEWAY_PORT=str(port), GATEWAY_HOST="127.0.0.1")
    return env


def start_once(service: str, repo: Path, env: dict[str, str], port: int, timeout: float) -> float:
    """Seconds from exec to the first /readyz 200; the process is stopped after."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", f"services.{service}"], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while status(f"http://127.0.0.1:{port}/readyz") != 200:
            if proc.poll() is not None:
                raise RuntimeError(f"{service} exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"{service} not ready after {timeout:.0f}s")
            time.sleep(0.02)
        return time.perf_counter() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def time_bad_config(service: str, repo: Path) -> float:
    """Seconds from exec to exit 78 with PARTITIONS=0 (out of range for every service)."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(repo), "PARTITIONS": "0"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", f"services.{service}"], cwd=repo, env=env, capture_output=True)
    if done.returncode != 78:
        raise RuntimeError(f"{service} exited {done.returncode} on a bad configuration, not 78")
    return time.perf_counter() - started


def time_services(repo: Path, names: list[str], runs: int, timeout: float) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        nats = NatsServer(Path(tmp) / "nats").start()
        postgres = LocalPostgres(Path(tmp) / "pg", durable=False).start()
        try:
            asyncio.run(provision_stream(settings_from({"NATS_URL": nats.url})))  # as `up` does first
            results: dict[str, list[float]] = {}
            for service in names:
                port = free_port()
                env = service_env(service, repo, nats.url, postgres.url, port)
                start_once(service, repo, env, port, timeout)  # warm-up: stream, schema, migrations
                results[service] = [start_once(service, repo, env, port, timeout) for _ in range(runs)]
                print(f"{service}: {' '.join(f'{s:.2f}' for s in results[service])}", file=sys.stderr)
            return results
        finally:
            postgres.stop()
            nats.stop()


def time_up(repo: Path, timeout: float) -> float:
    with tempfile.TemporaryDirectory(prefix="cold-up-") as tmp:
        home = Path(tmp) / ".switchboard"
        env = {key: value for key, value in os.environ.items()
               if key not in {"TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "PUBLIC_BASE_URL", "GATEWAY_PORT",
                              "TWILIO_API_BASE_URL", "SANDBOX_PORT", "HEALTH_PORT", "OPENAI_API_KEY"}}
        env.update(PYTHONPATH=str(repo), SWITCHBOARD_HOME=str(home), LOG_LEVEL="info",
                   NATS_URL=f"nats://127.0.0.1:{free_port()}",
                   DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
        log_path = Path(tmp) / "up.log"
        started = time.perf_counter()
        with log_path.open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "switchboard", "up"], cwd=repo, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        try:
            while UP_READY not in log_path.read_text(errors="replace"):
                if proc.poll() is not None:
                    raise RuntimeError(f"`up` exited {proc.returncode}:\n{log_path.read_text()[-3000:]}")
                if time.perf_counter() - started > timeout:
                    raise RuntimeError(f"`up` not ready after {timeout:.0f}s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.1)
            return time.perf_counter() - started
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def cell(samples: list[float]) -> str:
    return f"{statistics.median(samples):.2f} ({', '.join(f'{s:.2f}' for s in samples)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=HERE, help="the checkout whose services to start")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--up-runs", type=int, default=3, help="0 skips `switchboard up`")
    parser.add_argument("--bad-config-only", action="store_true",
                        help="only time a misconfigured start (exec to exit 78); no servers")
    parser.add_argument("--only", default=",".join(SERVICES), help="comma-separated services")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    repo = args.repo.resolve()
    load_before = os.getloadavg()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                            text=True).stdout.strip() or str(repo)
    names = [name for name in args.only.split(",") if name]
    if args.bad_config_only:
        bad = {name: [time_bad_config(name, repo) for _ in range(args.runs)] for name in names}
        print(f"commit {commit}; load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after\n")
        print("| misconfigured start | seconds to exit 78: median (runs) |")
        print("|---|---|")
        for service, samples in bad.items():
            print(f"| `python -m services.{service}` | {cell(samples)} |")
        return
    results = time_services(repo, names, args.runs, args.timeout)
    ups = []
    for _ in range(args.up_runs):
        ups.append(time_up(repo, args.timeout))
        print(f"up: {ups[-1]:.2f}", file=sys.stderr)
    load_after = os.getloadavg()
    print(f"commit {commit}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
          f"{os.cpu_count()} CPUs\n")
    print("| start | seconds to ready: median (runs) |")
    print("|---|---|")
    for service, samples in results.items():
        print(f"| `python -m services.{service}` → /readyz 200 | {cell(samples)} |")
    if ups:
        print(f"| `switchboard up` → \"{UP_READY}\" | {cell(ups)} |")


if __name__ == "__main__":
    main()
