"""Running `wrk` with pre-signed webhooks and reading back its results as JSON.

wrk is closed-loop (each connection sends its next request when the previous answer
arrives), so it measures the highest rate a server sustains, not latency at a fixed
rate; `open_loop` does that.
"""

from __future__ import annotations

import asyncio
import json
import resource
import shutil
from dataclasses import dataclass
from pathlib import Path

# Each thread loads its own file of raw requests (see gateway_webhooks.write_for_wrk) and cycles
# through it; `wrapped` counts requests sent after a thread ran out, which would repeat
# a MessageSid. `done` prints one JSON line for the Python side to parse.
LUA = r"""
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1] .. "/requests-" .. id .. ".bin", "rb"))
  local data = file:read("*a")
  file:close()
  pool = {}
  for raw in data:gmatch("[^%z]+") do pool[#pool + 1] = raw end
  size = #pool
  sent = 0
  wrapped = 0
end

function request()
  sent = sent + 1
  if sent > size then
    wrapped = wrapped + 1
    return pool[(sent - 1) % size + 1]
  end
  return pool[sent]
end

function done(summary, latency, requests)
  local sent_total, wrapped_total = 0, 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
    wrapped_total = wrapped_total + thread:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d}, ' ..
    '"sent": %d, "wrapped": %d}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    sent_total, wrapped_total))
end
"""


class WrkMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class WrkResult:
    duration_s: float
    requests: int  # completed responses, any status
    non_2xx: int
    socket_errors: int
    timeouts: int
    sent: int
    wrapped: int
    latency_ms: dict[str, float]
    cpu_s: float  # wrk's own user+system CPU time
    text: str  # wrk's human-readable output, for the log

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise WrkMissing("wrk not found: `apt-get install -y wrk` (or run tests/bench/run.sh)")
    return found


def write_script(directory: Path) -> Path:
    path = directory / "webhooks.lua"
    path.write_text(LUA)
    return path


async def run_wrk(url: str, script: Path, data_dir: Path, *, threads: int, connections: int,
                  duration_s: int, timeout_s: int = 5) -> WrkResult:
    """Run wrk once; it stops by itself after `duration_s`."""
    cmd = [
        wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", f"--timeout={timeout_s}s",
        "--latency", "-s", str(script), url, "--", str(data_dir),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), duration_s + 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"wrk did not finish within {duration_s + 60}s") from None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = out.decode(errors="replace")
    line = next((raw for raw in text.splitlines() if raw.startswith("WRK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{text}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    errors = data["errors"]
    return WrkResult(
        duration_s=data["duration_us"] / 1e6,
        requests=data["requests"],
        non_2xx=errors["status"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"],
        timeouts=errors["timeout"],
        sent=data["sent"],
        wrapped=data["wrapped"],
        latency_ms={key: value / 1000 for key, value in data["latency_us"].items()},
        cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        text=text.replace(line, "").strip(),
    )
