#!/usr/bin/env bash
# Benchmarks (what `make bench` runs). Needs wrk; installs it with apt-get when it is
# missing and apt is there, otherwise says how to get it. Extra arguments go to the
# gateway benchmark: bash tests/bench/run.sh --help
set -euo pipefail

cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}

wants_help=false
for arg in "$@"; do case "$arg" in -h|--help) wants_help=true ;; esac; done

if ! $wants_help && ! command -v wrk >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "bench: wrk not found; installing it with apt-get" >&2
        SUDO=""
        if [ "$(id -u)" -ne 0 ]; then
            if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
                echo "bench: need root (or sudo) to apt-get install wrk; install it and run again" >&2
                exit 2
            fi
        fi
        $SUDO apt-get install -y wrk >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
    else
        echo "bench: wrk is required (https://github.com/wg/wrk; Debian/Ubuntu: apt-get install wrk," >&2
        echo "       macOS: brew install wrk) and apt-get is not available here to install it" >&2
        exit 2
    fi
fi

if [ ! -x "$PYTHON" ]; then
    echo "bench: $PYTHON not found; run \`make install\` first (or set PYTHON)" >&2
    exit 2
fi

exec "$PYTHON" -m tests.bench.gateway "$@"
