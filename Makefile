# Switchboard: `make up` runs the whole system locally, `make test` runs every test.
# Needs only Python 3.11+ and make; everything else comes from PyPI into .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
LOCK := requirements.lock
# Stamp: reinstall only when the lock or the project metadata changed. The project goes in
# with its dev extra, constrained to the lock, so a dependency added to pyproject.toml but
# not yet locked still installs (and `make lock` pins it).
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install up test lint lock bench chaos browser

help:
	@echo "make install  create .venv and install the locked dependencies and the project"
	@echo "make up       run the whole system locally (Ctrl-C stops it)"
	@echo "make test     lint, then run the whole test suite"
	@echo "make lint     ruff, mypy --strict on shared/, mypy on the services and the CLI"
	@echo "make bench    run the benchmarks (ARGS=... passes options, ARGS=--help lists them)"
	@echo "make chaos    kill services, nats-server, Postgres and the cluster's stream leader under load; account for every message"
	@echo "make lock     re-resolve $(LOCK) from pyproject.toml"
	@echo "make browser  install Debian's chromium and chromium-driver for the browser test (as root)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.X")'
	$(PYTHON) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/python -m pip install --quiet 'uv>=0.4'
	@touch $@

$(INSTALLED): $(LOCK) pyproject.toml $(UV)
	$(UV) pip install --python $(BIN)/python -r $(LOCK)
	$(UV) pip install --python $(BIN)/python --constraint $(LOCK) -e '.[dev]'
	@touch $@

install: $(INSTALLED)

up: install
	$(BIN)/switchboard up

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy --strict shared
	$(BIN)/mypy services switchboard

# The browser test drives Debian's chromium through chromium-driver (Selenium, nothing
# downloaded at run time). Installed here when missing and possible (root and apt-get);
# otherwise the browser test skips and says why.
browser:
	@if command -v chromedriver >/dev/null 2>&1 && { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and chromium-driver for the browser test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium chromium-driver >/dev/null; } || echo "could not install chromium: the browser test will skip"; \
	else \
	  echo "chromium and chromium-driver are missing and this is not root with apt-get: the browser test will skip"; \
	fi

# Two phases: every test but the `solo` ones on TEST_WORKERS pytest-xdist workers (most
# tests wait on processes, sockets and timers, so a serial run leaves the CPU idle most of
# the time; 4 workers measured fastest on 2 cores, docs/benchmarks.md "Test suite"), then
# the `solo` tests alone: they compare throughput within one run. `--dist loadfile` keeps
# each module on one worker, so a module-scoped fixture (test_up.py's shared `up`) starts
# once; `long` modules are collected first so they run beside the rest, not after it.
# (`--dist loadgroup` would group by mark, but pytest-xdist 3.8 writes the group into
# `item._nodeid`, which pytest 9 no longer reads: every test became its own group.) A fresh --basetemp per run, so two suites on one
# machine never share (or clean up) a temporary directory. TEST_WORKERS=0 runs everything
# in one process.
TEST_WORKERS ?= 4
PYTEST := $(BIN)/pytest -q -p no:cacheprovider

test: install lint browser
	@base="$$(mktemp -d "$${TMPDIR:-/tmp}/switchboard-test-XXXXXX")"; \
	echo "tests: phase 1 of 2, everything but the solo tests, on $(TEST_WORKERS) workers"; \
	$(PYTEST) -n $(TEST_WORKERS) --dist loadfile -m "not solo" --durations=8 --basetemp="$$base/parallel" || exit $$?; \
	echo "tests: phase 2 of 2, the solo tests (agent replicas' throughput), alone"; \
	$(PYTEST) -m solo --durations=4 --basetemp="$$base/solo"

bench: install
	bash tests/bench/run.sh $(ARGS)

chaos: install
	$(BIN)/python -m tests.chaos.run $(ARGS)

lock: $(UV)
	$(UV) pip compile pyproject.toml --all-extras --universal --python-version 3.11 --output-file $(LOCK)
