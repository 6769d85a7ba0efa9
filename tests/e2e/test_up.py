"""`switchboard up` end to end: a real stack from nothing, a signed webhook, audit, restart.

NATS_URL and DATABASE_URL point at closed ports, so `up` starts its own nats-server and
Postgres under a temporary SWITCHBOARD_HOME. Its ports.json says 0 for every port, so `up`
takes whatever free port the kernel gives and holds it at once: this test never takes 4222,
5432 or 8000 from a developer's stack, and no port is chosen here and bound there later.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from switchboard.infra import free_port
from switchboard.registry import SERVICES
from tests.fakes.otlp_collector import OtlpCollector
from tests.twilio_forms import inbound_form, new_sid, signed
from tests.waiting import scaled, wait_until

# One xdist worker runs the whole module (`make test` distributes by file, and its first `up` is
# shared), first of all (`long`), beside the other workers. It used to run alone after the rest: a port it pre-chose was taken by another
# worker's server in one run in five. Now `up` chooses and holds its ports itself (ports.json 0)
# and hands its services listening sockets (shared/listen.py), which nobody else can bind.
pytestmark = [pytest.mark.e2e, pytest.mark.long, pytest.mark.timeout(600)]

READY_TIMEOUT_S = 240
STOP_TIMEOUT_S = 90
REPO = Path(__file__).resolve().parents[2]


def stack_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in {"TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "PUBLIC_BASE_URL", "GATEWAY_PORT",
                          "TWILIO_API_BASE_URL", "SANDBOX_PORT", "HEALTH_PORT"}}
    env.update(
        SWITCHBOARD_HOME=str(home),
        NATS_URL=f"nats://127.0.0.1:{free_port()}",
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",
        LOG_LEVEL="info",
    )
    return env


class Up:
    """One `python -m switchboard up` process, its output in a file."""

    def __init__(self, home: Path, log: Path, *args: str, env: dict[str, str] | None = None):
        self.home = home
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "switchboard", "up", *args], cwd=home.parent, env={**stack_env(home), **(env or {})},
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def facts(self) -> dict:
        deadline = time.monotonic() + READY_TIMEOUT_S
        stack_file = self.home / "stack.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"`up` exited with {self.proc.returncode}:\n{self.output()[-6000:]}")
            if stack_file.exists():
                facts = json.loads(stack_file.read_text())
                if http_status(f"{facts['gateway_url']}/readyz") == 200:
                    return facts
            time.sleep(0.5)
        pytest.fail(f"the stack was not ready within {READY_TIMEOUT_S}s:\n{self.output()[-6000:]}")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`up` did not stop within {STOP_TIMEOUT_S}s after SIGINT:\n{self.output()[-6000:]}")

    def make_sure_it_stopped(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def http_status(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def descendants(root: int) -> set[int]:
    """Every live process below `root` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, queue = set(), [root]
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in found:
                found.add(child)
                queue.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def audit_rows(database_url: str, message_sid: str) -> int:
    connection = await asyncpg.connect(database_url, timeout=5)
    try:
        return await connection.fetchval("SELECT count(*) FROM audit.events WHERE msg_id = $1", message_sid)
    finally:
        await connection.close()


def wait_for_audit(database_url: str, message_sid: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    rows = 0
    while time.monotonic() < deadline:
        try:
            rows = asyncio.run(audit_rows(database_url, message_sid))
        except (OSError, asyncpg.PostgresError):
            rows = 0
        if rows:
            return rows
        time.sleep(0.5)
    return rows


def assert_one_role_per_service(facts: dict, home: Path) -> None:
    """Each database-using service has its own role, with a password, on a server that
    refuses anyone without one; and stack.json, which holds them, is private."""
    urls = facts["database_urls"]
    assert set(urls) >= {"audit"}, urls
    users = {service: urlsplit(url).username for service, url in urls.items()}
    assert users == {service: f"switchboard_{service}" for service in urls}
    assert all(urlsplit(url).password for url in urls.values())
    assert (home / "stack.json").stat().st_mode & 0o077 == 0
    assert "@" not in facts["database_url"]
    anonymous = facts["database_url"].replace("postgresql://", "postgresql://postgres@")
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(audit_rows(anonymous, "none"))
    if "agent" in urls:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            asyncio.run(audit_rows(urls["agent"], "none"))
    if "console" in urls:  # a reader of audit's tables, nothing more
        assert asyncio.run(audit_rows(urls["console"], "none")) == 0


def post_signed_webhook(facts: dict, token: str, body: str, account_sid: str) -> tuple[int, str]:
    url = f"{facts['public_base_url']}/twilio/messages"
    form = inbound_form(body, sid=new_sid("SM"), AccountSid=account_sid)  # the gateway refuses other accounts
    data, headers = signed(token, url, form)
    return http_status(url, data, headers), form["MessageSid"]


def prepared_home(root: Path) -> Path:
    home = root / "switchboard-home"
    home.mkdir()
    names = ["nats", "nats-monitor", "postgres", *(entry.name for entry in SERVICES)]
    (home / "ports.json").write_text(json.dumps({name: 0 for name in names}))  # 0: any free port
    return home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return prepared_home(tmp_path)


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as running:
        yield running


@pytest.fixture(scope="module")
def first_up(tmp_path_factory: pytest.TempPathFactory, collector: OtlpCollector) -> Iterator[Up]:
    """One stack for the tests below that only use it (browser, operator commands), and then
    for the test that stops it and starts it again: `up` is started once for all of them.
    Its services export traces to a local OTLP receiver."""
    root = tmp_path_factory.mktemp("first-up")
    up = Up(prepared_home(root), root / "up-1.log", env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url})
    try:
        yield up
    finally:
        up.make_sure_it_stopped()


PIPELINE = ("gateway", "audit", "transcriber", "agent", "outbound", "console")


def needs_the_pipeline() -> None:
    missing = [name for name in PIPELINE if not (REPO / "services" / name / "__main__.py").exists()]
    if missing:
        pytest.skip(f"not there yet: {', '.join(missing)}")


def operator_env(home: Path) -> dict[str, str]:
    """Only SWITCHBOARD_HOME: the commands must find NATS and Postgres by themselves."""
    env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL", "STREAM_NAME"}}
    return {**env, "SWITCHBOARD_HOME": str(home)}


def switchboard(home: Path, cwd: Path, *args: str, stdin: str = "", timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "switchboard", *args], input=stdin, env=operator_env(home),
                          cwd=cwd, capture_output=True, text=True, timeout=scaled(timeout))


def test_a_user_chats_in_the_browser_and_the_operator_follows_it_in_the_console(first_up: Up, tmp_path: Path):
    needs_the_pipeline()
    from tests.e2e.browser_flow import chat_then_inspect

    facts = first_up.facts()
    assert f"console     {facts['console_url']}/" in first_up.output()
    assert "What next:" in first_up.output()
    chat_then_inspect(facts["console_url"], tmp_path / "screenshots", first_up.output)


TRACED = {"switchboard-gateway", "switchboard-transcriber", "switchboard-agent", "switchboard-calendar",
          "switchboard-outbound"}


def test_one_message_is_one_trace_from_the_gateway_to_outbound(first_up: Up, collector: OtlpCollector, tmp_path: Path):
    needs_the_pipeline()
    first_up.facts()
    chat = switchboard(first_up.home, tmp_path, "chat", "--user", "+15550005555", "--timeout", "90",
                       stdin="Book a haircut tomorrow at 11am\n")
    assert chat.returncode == 0 and "switchboard> " in chat.stdout, (chat.stdout, chat.stderr)

    def whole_trace() -> list | None:
        for spans in collector.traces().values():
            if TRACED <= {span.service for span in spans}:
                return spans
        return None

    spans = wait_until(whole_trace, 30, "one trace through gateway, transcriber, agent, calendar and outbound")
    by_id = {span.span_id: span for span in spans}
    roots = [span for span in spans if span.parent_span_id not in by_id]
    assert [root.service for root in roots] == ["switchboard-gateway"], roots  # one tree, from the webhook
    assert any(span.service == "switchboard-calendar" and span.name == "calendar create" for span in spans)


def test_the_operator_commands_find_the_running_stack(first_up: Up, tmp_path: Path):
    needs_the_pipeline()
    first_up.facts()
    chat = switchboard(first_up.home, tmp_path, "chat", "--user", "+15550004444", "--timeout", "90", stdin="hello\n")
    assert chat.returncode == 0 and "switchboard> " in chat.stdout, (chat.stdout, chat.stderr)
    again = switchboard(first_up.home, tmp_path, "chat", "--user", "+15550004444", "--timeout", "90",
                        stdin="what time is it\n")
    assert again.returncode == 0 and "switchboard> It's" in again.stdout, (again.stdout, again.stderr)
    assert chat.stdout.strip().splitlines()[0] not in again.stdout  # earlier replies are not printed again

    status = switchboard(first_up.home, tmp_path, "status")
    assert status.returncode == 0, (status.stdout, status.stderr)
    assert "agent        ready" in status.stdout and "lag per stage" in status.stdout
    assert re.search(r"dead letters: \d+ open", status.stdout), status.stdout

    def recorded() -> subprocess.CompletedProcess | None:
        shown = switchboard(first_up.home, tmp_path, "timeline", "+15550004444")
        return shown if "Delivery status: delivered" in shown.stdout else None

    timeline = wait_until(recorded, 60, "the reply's delivery in `switchboard timeline`", interval=1.0)
    assert "Inbound from +15550004444" in timeline.stdout and "hello" in timeline.stdout
    assert "Reply composed" in timeline.stdout and re.search(r"\[agent \d", timeline.stdout)
    masked = switchboard(first_up.home, tmp_path, "timeline", "+15550004444", "--mask")
    assert "+15550004444" not in masked.stdout and "hidden: 5 characters" in masked.stdout
    unknown = switchboard(first_up.home, tmp_path, "timeline", "+19999999999")
    assert unknown.returncode == 1 and "no conversation" in unknown.stdout

    for command in (("deadletters", "list"), ("dead-letters",)):
        listed = switchboard(first_up.home, tmp_path, *command)
        assert listed.returncode == 0 and "dead letter(s) open" in listed.stdout, (listed.stdout, listed.stderr)
    replay = switchboard(first_up.home, tmp_path, "replay")
    assert replay.returncode == 0, (replay.stdout, replay.stderr)
    version = switchboard(first_up.home, tmp_path, "--version")
    assert re.fullmatch(r"switchboard \S+\n", version.stdout)


def test_up_serves_audits_stops_cleanly_and_keeps_data(first_up: Up, tmp_path: Path):
    for service in ("gateway", "audit"):
        if not (REPO / "services" / service / "__main__.py").exists():
            pytest.skip(f"services/{service} is not there yet")
    first = first_up
    home = first.home
    try:
        facts = first.facts()
        sandbox = json.loads((home / "sandbox.json").read_text())
        assert (home / "sandbox.json").stat().st_mode & 0o077 == 0
        assert facts["sandbox"] is True
        assert "sandbox mode" in first.output()
        assert facts["webhook_url"] in first.output()
        # NATS requires a user per service; this run's admin password is in the owner-only stack.json.
        assert facts["nats_user"] == "admin" and facts["nats_password"] not in first.output()
        assert (home / "stack.json").stat().st_mode & 0o077 == 0
        assert (home / "nats-auth.conf").stat().st_mode & 0o077 == 0
        assert asyncio.run(nats_refuses_strangers(facts["nats_url"]))

        status, message_sid = post_signed_webhook(
            facts, sandbox["auth_token"], "hello from the e2e test", sandbox["account_sid"]
        )
        assert status == 200, first.output()[-4000:]
        forged, _ = post_signed_webhook(facts, "not-the-token", "forged", sandbox["account_sid"])
        assert forged == 403
        assert wait_for_audit(facts["database_urls"]["audit"], message_sid) == 1, first.output()[-4000:]
        assert_one_role_per_service(facts, home)

        if all((REPO / "services" / name / "__main__.py").exists() for name in ("transcriber", "agent", "outbound")):
            chat = subprocess.run(
                [sys.executable, "-m", "switchboard", "chat", "--timeout", "60"], input="hello\n",
                env={**os.environ, "SWITCHBOARD_HOME": str(home)}, cwd=tmp_path,
                capture_output=True, text=True, timeout=120,
            )
            assert chat.returncode == 0 and "switchboard> " in chat.stdout, (chat.stdout, chat.stderr)

        family = descendants(first.proc.pid)
        assert family, "up started no processes"
        assert first.interrupt() == 0, first.output()[-4000:]
        time.sleep(0.5)
        leftovers = sorted(pid for pid in family if running(pid))
        assert not leftovers, f"processes left after up stopped: {leftovers}"
        assert not (home / "stack.json").exists()
    finally:
        first.make_sure_it_stopped()

    second = Up(home, tmp_path / "up-2.log")
    try:
        again = second.facts()
        assert again["nats_url"] == facts["nats_url"] and again["database_url"] == facts["database_url"]
        assert again["nats_password"] != facts["nats_password"]  # new passwords every run
        assert json.loads((home / "sandbox.json").read_text()) == sandbox
        assert wait_for_audit(again["database_urls"]["audit"], message_sid, timeout=10) == 1
        # Every run gives the roles new passwords: last run's no longer opens anything.
        assert again["database_urls"]["audit"] != facts["database_urls"]["audit"]
        with pytest.raises(asyncpg.InvalidPasswordError):
            asyncio.run(audit_rows(facts["database_urls"]["audit"], message_sid))
        # Operator commands find the audit role in stack.json and work beside the running stack.
        replayed = subprocess.run(
            [sys.executable, "-m", "switchboard", "replay"], env={**stack_env(home), "NATS_URL": "", "DATABASE_URL": ""},
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )
        assert replayed.returncode == 0, (replayed.stdout, replayed.stderr)
        assert wait_for_audit(again["database_urls"]["audit"], message_sid, timeout=10) == 1
        stored = re.search(r"stream WHATSAPP: \d+ partitions, (\d+) events stored", second.output())
        assert stored and int(stored.group(1)) >= 1, second.output()[-4000:]
        assert second.interrupt() == 0, second.output()[-4000:]
    finally:
        second.make_sure_it_stopped()


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def wait_for_output(up: Up, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while text not in up.output():
        if up.proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"never printed {text!r}:\n{up.output()[-6000:]}")
        time.sleep(0.2)


def webhook_accepted(facts: dict, sandbox: dict, timeout: float = 120) -> str:
    """Post signed webhooks until one is answered 200 (the gateway is back on NATS); its MessageSid."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        status, message_sid = post_signed_webhook(facts, sandbox["auth_token"], "after a restart",
                                                  sandbox["account_sid"])
        if status == 200:
            return message_sid
        time.sleep(0.5)
    pytest.fail("the gateway never accepted a webhook again")


def test_up_restarts_its_nats_server_and_postgres_and_the_services_carry_on(home: Path, tmp_path: Path):
    for service in ("gateway", "audit"):
        if not (REPO / "services" / service / "__main__.py").exists():
            pytest.skip(f"services/{service} is not there yet")
    up = Up(home, tmp_path / "up.log")
    try:
        facts = up.facts()
        sandbox = json.loads((home / "sandbox.json").read_text())
        assert facts["nats_monitor_url"] in up.output()  # the monitoring port is printed

        nats_pid = next(pid for pid in descendants(up.proc.pid) if "nats-server" in command_line(pid).split("\0")[0])
        os.kill(nats_pid, signal.SIGKILL)
        wait_for_output(up, f"(pid {nats_pid}, port ")
        wait_for_output(up, "nats-server switchboard-local is back on port")
        assert f"{facts['nats_url'].rsplit(':', 1)[1]}" in up.output().split("is back on port", 1)[1][:10]
        message_sid = webhook_accepted(facts, sandbox)
        assert wait_for_audit(facts["database_urls"]["audit"], message_sid, timeout=120) == 1, up.output()[-6000:]

        postmaster = int((home / "postgres" / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(postmaster, signal.SIGKILL)
        wait_for_output(up, f"Postgres (pid {postmaster}")
        wait_for_output(up, "Postgres is back on port")
        message_sid = webhook_accepted(facts, sandbox)
        # audit's pool reconnects by itself: the event stored meanwhile reaches Postgres
        assert wait_for_audit(facts["database_urls"]["audit"], message_sid, timeout=180) == 1, up.output()[-6000:]

        if all((REPO / "services" / name / "__main__.py").exists() for name in ("transcriber", "agent", "outbound")):
            chat = subprocess.run(
                [sys.executable, "-m", "switchboard", "chat", "--timeout", "90"], input="hello\n",
                env={**os.environ, "SWITCHBOARD_HOME": str(home)}, cwd=tmp_path,
                capture_output=True, text=True, timeout=180,
            )
            assert chat.returncode == 0 and "switchboard> " in chat.stdout, (chat.stdout, chat.stderr, up.output()[-6000:])
        assert "had failed" not in up.output() and "giving up" not in up.output()
        assert up.interrupt() == 0, up.output()[-4000:]
    finally:
        up.make_sure_it_stopped()


async def nats_refuses_strangers(nats_url: str) -> bool:
    import nats
    from nats.errors import Error as NatsError

    try:
        nc = await nats.connect(nats_url.split(","), connect_timeout=5, allow_reconnect=False, max_reconnect_attempts=1)
    except NatsError as exc:
        return "Authorization Violation" in str(exc)
    await nc.close()
    return False


async def stream_leader(facts: dict) -> str:
    import nats

    nc = await nats.connect(facts["nats_url"].split(","), connect_timeout=5, user=facts["nats_user"],
                            password=facts["nats_password"])
    try:
        info = await nc.jetstream().stream_info("WHATSAPP")
        assert info.config.num_replicas == 3
        return info.cluster.leader
    finally:
        await nc.close()


def test_up_on_a_local_cluster_answers_and_survives_losing_the_stream_leader(home: Path, tmp_path: Path):
    if not all((REPO / "services" / name / "__main__.py").exists()
               for name in ("gateway", "audit", "transcriber", "agent", "outbound")):
        pytest.skip("the whole pipeline is not there yet")
    up = Up(home, tmp_path / "up.log", "--cluster")
    try:
        facts = up.facts()
        sandbox = json.loads((home / "sandbox.json").read_text())
        assert len(facts["nats_url"].split(",")) == 3 and "3-node JetStream cluster" in up.output()

        leader = asyncio.run(stream_leader(facts))
        leader_pid = next(pid for pid in descendants(up.proc.pid)
                          if "nats-server" in command_line(pid) and leader in command_line(pid).split("\0"))
        os.kill(leader_pid, signal.SIGKILL)
        wait_for_output(up, f"nats-server {leader} (pid {leader_pid}")
        wait_for_output(up, f"nats-server {leader} is back on port")

        message_sid = webhook_accepted(facts, sandbox)
        assert wait_for_audit(facts["database_urls"]["audit"], message_sid, timeout=120) == 1, up.output()[-6000:]
        chat = subprocess.run(
            [sys.executable, "-m", "switchboard", "chat", "--timeout", "90"], input="hello\n",
            env={**os.environ, "SWITCHBOARD_HOME": str(home)}, cwd=tmp_path,
            capture_output=True, text=True, timeout=180,
        )
        assert chat.returncode == 0 and "switchboard> " in chat.stdout, (chat.stdout, chat.stderr, up.output()[-6000:])
        assert up.interrupt() == 0, up.output()[-4000:]
    finally:
        up.make_sure_it_stopped()
