"""Benchmark results and their markdown rendering."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class RunResult:
    """One load run against one target."""

    name: str
    target: str  # "gateway", "static responder", "FastAPI no-op"
    generator: str  # how the load was made, e.g. "open loop 300/s" or "wrk -t2 -c64"
    duration_s: float
    requests: int  # answered, any status
    ok: int  # 200 answers (acknowledgements, for the gateway)
    failed: int  # non-200 answers, socket errors and timeouts
    rate: float  # answered requests per second
    latency_ms: dict[str, float]  # p50, p90, p99, max (and p999 for wrk)
    latency_basis: str  # "from intended send" (open loop) or "from send" (wrk, closed loop)
    offered_rate: float | None = None  # open loop only: the schedule's rate
    cpu_percent: dict[str, float] = field(default_factory=dict)  # of one core, by process
    stored: int | None = None  # events added to the stream during the run
    metrics_stored: int | None = None  # the gateway's own `stored` counter, same window
    duplicates: int | None = None
    ids_checked: bool = False  # every acknowledged MessageSid looked up in the stream
    notes: list[str] = field(default_factory=list)

    def kept_up(self, p99_bound_ms: float = 100.0) -> bool:
        """Open loop: every request answered 200, at the offered rate, without a growing backlog."""
        return (
            self.offered_rate is not None and self.failed == 0 and self.lost == 0
            and self.rate >= 0.99 * self.offered_rate and self.latency_ms["p99"] <= p99_bound_ms
        )

    @property
    def lost(self) -> int:
        return max(0, self.ok - self.stored) if self.stored is not None else 0


def machine_table(rows: list[tuple[str, str]]) -> str:
    lines = ["| machine | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def results_table(runs: list[RunResult]) -> str:
    lines = [
        "| run | target | generator | answered/s | 200s | failed | p50 ms | p90 ms | p99 ms | max ms | stored in stream | CPU % of a core: server / nats / generator / other |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        lat = run.latency_ms
        stored = "–" if run.stored is None else f"{run.stored}" + (" (ids checked)" if run.ids_checked else "")
        cpu = " / ".join(
            f"{run.cpu_percent[key]:.0f}" if key in run.cpu_percent else "–" for key in ("server", "nats", "generator", "other")
        )
        lines.append(
            f"| {run.name} | {run.target} | {run.generator} | {run.rate:,.0f} | {run.ok} | {run.failed} "
            f"| {_ms(lat.get('p50'))} | {_ms(lat.get('p90'))} | {_ms(lat.get('p99'))} | {_ms(lat.get('max'))} "
            f"| {stored} | {cpu} |"
        )
    return "\n".join(lines)


def as_dict(runs: list[RunResult]) -> list[dict]:
    return [asdict(run) for run in runs]
