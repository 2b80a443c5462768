# rra — two set-up commands: `make demo` (the main job on embedded defaults) and `make test`.
# Each does the whole set-up on a fresh Debian machine: uv (bootstrapped from the package index
# when missing), the project's virtualenv from uv.lock, and restic from apt when we are root.

SHELL := /bin/bash
UV_VERSION := 0.13.9
VENV := .venv
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint pytest bench system-deps test-deps sync sync-all clean

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

# The real oracles the tests use: sshd (sshd -T, real logins), PAM modules and pamtester, sudo's
# visudo/cvtsudoers. Installed when we are root; otherwise the tests that need them skip (and
# fail in CI).
TEST_PACKAGES := openssh-server pamtester libpam-google-authenticator libpam-oath oathtool sudo nftables iptables
test-deps: system-deps
	@missing=""; for p in $(TEST_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing (apt-get)"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	     (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing)) || exit 1; \
	  else \
	    echo "test tools missing:$$missing (sudo apt-get install -y$$missing)" >&2; \
	  fi; \
	fi
	@if [ "$$(id -u)" = 0 ]; then mkdir -p /run/sshd; fi

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

pytest: test-deps sync-all
	$(VENV)/bin/pytest -q

test: lint pytest

bench: test-deps sync-all
	$(VENV)/bin/python bench/collect.py
	$(VENV)/bin/python bench/auth.py
	$(VENV)/bin/python bench/exposure.py

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache demo
