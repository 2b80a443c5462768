# rra — two set-up commands: `make demo` (the main job on embedded defaults) and `make test`.
# Each does the whole set-up on a fresh Debian machine: uv (bootstrapped from the package index
# when missing), the project's virtualenv from uv.lock, and restic from apt when we are root.

SHELL := /bin/bash
UV_VERSION := 0.13.9
VENV := .venv
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint pytest bench system-deps sync sync-all clean

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# restic is the one system tool the base agent needs.
system-deps:
	@if ! command -v restic >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing restic (apt-get)"; \
	    (apt-get install -y -qq restic >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq restic)) || exit 1; \
	  else \
	    echo "restic is missing; install it with: sudo apt-get install -y restic" >&2; exit 1; \
	  fi; \
	fi

# Base install (the agent) for the demo; keeps anything already installed.
sync: $(UV)
	$(UV) sync --frozen --inexact --quiet

# Everything, for tests and linters.
sync-all: $(UV)
	$(UV) sync --frozen --all-extras --group dev --quiet

demo: system-deps sync
	$(VENV)/bin/rra demo --dir demo

lint: sync-all
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

pytest: system-deps sync-all
	$(VENV)/bin/pytest -q

test: lint pytest

bench: system-deps sync-all
	$(VENV)/bin/python bench/collect.py

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache demo
