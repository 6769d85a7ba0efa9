"""Start-up: a bad configuration exits 78 before any heavy library is imported.

Each worker checks its settings first and imports LangGraph, SQLAlchemy, faster-whisper or
the Google client only after, so a misconfigured container fails in a fraction of a second
instead of after seconds of imports. `-X importtime` lists every module the process
imported (on stderr), which is what these tests read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HEAVY = {
    "agent": ("langgraph", "langchain_core", "langchain_openai", "sqlalchemy", "psycopg", "openai"),
    "audit": ("sqlalchemy", "asyncpg"),
    "calendar": ("googleapiclient", "sqlalchemy", "asyncpg"),
    "transcriber": ("faster_whisper", "ctranslate2", "openai"),
    "outbound": ("shared.consumer", "services.outbound.handler", "services.outbound.ledger"),
}


def start_misconfigured(service: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "PARTITIONS": "0",  # out of range for every service: load_settings exits 78
    }
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", f"services.{service}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.MULTILINE))
    return done, imported


def test_importtime_output_is_what_the_test_reads():
    # The check below is only as good as its parsing: on a good import of the agent's
    # graph module, LangGraph shows up.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import services.agent.graph"],
        cwd=ROOT, env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.MULTILINE))
    assert "langgraph" in imported


@pytest.mark.parametrize("service", sorted(HEAVY))
def test_bad_configuration_exits_78_before_heavy_imports(service: str):
    done, imported = start_misconfigured(service)
    assert done.returncode == 78, done.stderr[-2000:]
    assert "PARTITIONS" in done.stderr  # the clear message, not a crash
    assert imported, "no -X importtime output: the check would pass vacuously"
    assert sorted(imported & set(HEAVY[service])) == []
