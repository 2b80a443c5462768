"""A real auditor for API tests: ``rra auditor serve`` (uvicorn, TLS) in a subprocess, once per
database backend per session — SQLite (WAL) and PostgreSQL (the Debian cluster; CI starts it).

Tests isolate themselves by org: each asks ``unique_org()`` for a fresh org path and creates the
tokens and hosts it needs inside it, so one server serves the whole session.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from rra.agent.demo_fleet import free_loopback_port, wait_healthy
from rra.agent.identity import HostKey
from rra.auditor import admin
from rra.auditor.db import make_engine, session_scope
from rra.auditor.drills import schedule
from rra.auditor.migrate import upgrade_to_head
from rra.auditor.tls import init_tls
from rra.auditor.tokens import Role
from rra.checks.canonical import canonical_json
from rra.checks.protocol import EnrollRequest
from rra.checks.report import Report
from tests.conftest import require

PG_SOCKET_DIR = "/var/run/postgresql"


def postgres_available() -> bool:
    try:
        with psycopg.connect(host=PG_SOCKET_DIR, dbname="postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A uniquely named PostgreSQL database on the local cluster, dropped afterwards."""
    require(
        "PostgreSQL",
        postgres_available(),
        "start the cluster: pg_ctlcluster 15 main start (make test-deps does it as root)",
    )
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=PG_SOCKET_DIR, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://root@/{name}?host={PG_SOCKET_DIR}"
    finally:
        with psycopg.connect(host=PG_SOCKET_DIR, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session's API server."""
    with scratch_database("rra_test") as url:
        yield url


@dataclass
class AuditorServer:
    backend: str
    base_url: str
    ca_path: Path
    data_dir: Path
    database_url: str
    engine: Engine
    admin_token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(
            base_url=self.base_url,
            verify=ssl.create_default_context(cafile=str(self.ca_path)),
            headers=headers,
            timeout=30,
        )
        self._clients.append(client)
        return client

    def token(self, role: Role, scope: str, name: str = "test") -> str:
        """A fresh API token created directly in the database (the CLI's code path)."""
        with session_scope(self.engine) as session:
            _row, plaintext = admin.create_api_token(session, role=role, org_scope=scope, name=name)
        return plaintext

    def enroll_token(self, org: str, expires_in: timedelta = timedelta(hours=1)) -> str:
        with session_scope(self.engine) as session:
            _row, plaintext = admin.create_enroll_token(session, org=org, expires_in=expires_in)
        return plaintext


@dataclass
class EnrolledHost:
    host_id: str
    key: HostKey
    org: str
    machine_id: str

    def signed(self, report: Report) -> tuple[bytes, str]:
        payload = canonical_json(report)
        return payload, self.key.sign(payload)

    def headers(self, report: Report) -> tuple[bytes, dict[str, str]]:
        payload, signature = self.signed(report)
        return payload, {
            "X-RRA-Host": self.host_id,
            "X-RRA-Signature": signature,
            "Content-Type": "application/json",
        }


def enroll_request(
    token: str, key: HostKey, *, machine_id: str, hostname: str = "host-1"
) -> dict[str, object]:
    fields: dict[str, object] = {
        "token": token,
        "public_key": key.public_key_b64,
        "machine_id": machine_id,
        "hostname": hostname,
        "os_family": "linux",
    }
    fields["proof"] = key.sign(canonical_json(fields))
    return EnrollRequest.model_validate(fields).model_dump()


def enroll(server: AuditorServer, org: str, *, machine_id: str | None = None) -> EnrolledHost:
    """Enroll a new host through the real API and return its identity."""
    key = HostKey.generate()
    machine = machine_id or uuid.uuid4().hex
    response = server.client().post(
        "/api/v1/enroll", json=enroll_request(server.enroll_token(org), key, machine_id=machine)
    )
    assert response.status_code in (200, 201), response.text
    return EnrolledHost(host_id=response.json()["host_id"], key=key, org=org, machine_id=machine)


def unique_org(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def start_server(
    data_dir: Path, database_url: str, backend: str, port: int | None = None
) -> AuditorServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = init_tls(data_dir / "tls", hostnames=["localhost"], ip_addresses=["127.0.0.1"])
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        _row, admin_token = admin.create_api_token(
            session, role="admin", org_scope="", name="session admin"
        )
    port = port or free_loopback_port()
    log_path = data_dir / "server.log"
    env = dict(os.environ, RRA_AUDITOR_DATABASE_URL=database_url)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "rra", "auditor", "--data-dir", str(data_dir), "serve",
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )  # fmt: skip
    base_url = f"https://127.0.0.1:{port}"
    wait_healthy(base_url, paths.ca_cert, process, log_path)
    return AuditorServer(
        backend=backend,
        base_url=base_url,
        ca_path=paths.ca_cert,
        data_dir=data_dir,
        database_url=database_url,
        engine=engine,
        admin_token=admin_token,
        process=process,
        log_path=log_path,
    )


def stop_server(server: AuditorServer) -> None:
    for client in server._clients:
        client.close()
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    server.engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def auditor_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuditorServer]:
    backend: str = request.param
    data_dir = tmp_path_factory.mktemp(f"auditor-{backend}")
    if backend == "sqlite":
        url = f"sqlite:///{data_dir / 'auditor.db'}"
    else:
        url = request.getfixturevalue("pg_database_url")
    server = start_server(data_dir, url, backend)
    yield server
    stop_server(server)


# ── restore drills: a private database per backend (worker claims take every agentless run in a
# database, so those tests cannot share the API server's) ──


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def drill_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of its own (URL) for this module, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('drills')) / 'auditor.db'}"
        upgrade_to_head(url)
        yield url
        return
    with scratch_database("rra_drills") as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture
def drill_engine(drill_db: str) -> Iterator[Engine]:
    """An engine on the module's database, emptied first: worker claims take every agentless
    run there is, so each test starts from nothing."""
    schedule.recent.clear()  # the per-process materialisation memo must not leak across tests
    made = make_engine(drill_db)
    with made.begin() as connection:
        for table in ("drill_results", "drill_runs", "playbooks", "host_state", "reports", "hosts"):
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names
    yield made
    made.dispose()
