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
TEST_PACKAGES := tmux openssh-server pamtester libpam-google-authenticator libpam-oath oathtool sudo nftables iptables postgresql
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
	@# The auditor's API tests run on SQLite and on PostgreSQL: start the Debian cluster and give
	@# root a superuser role (the tests create and drop their own database over the socket).
	@if [ "$$(id -u)" = 0 ] && command -v pg_lsclusters >/dev/null 2>&1; then \
	  cluster=$$(pg_lsclusters -h | awk 'NR==1 {print $$1" "$$2}'); \
	  if [ -n "$$cluster" ]; then \
	    pg_ctlcluster --skip-systemctl-redirect $$cluster start >/dev/null 2>&1 || true; \
	    for i in $$(seq 1 30); do pg_isready -q -h /var/run/postgresql && break; sleep 0.5; done; \
	    su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='root'\"" | grep -q 1 || \
	      su postgres -c "psql -qc 'create role root superuser login'"; \
	  fi; \
	fi

# The agent plus the auditor extra for the demo (it starts an auditor on loopback); keeps
# anything already installed.
sync: $(UV)
	$(UV) sync --frozen --inexact --extra auditor --quiet

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
	$(VENV)/bin/python bench/ingest.py
	$(VENV)/bin/python bench/drill.py --rounds 2
	$(VENV)/bin/python bench/agentless.py --rounds 1
	$(VENV)/bin/python bench/tui.py --rounds 3

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache demo
