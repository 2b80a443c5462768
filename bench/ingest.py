"""Benchmark: signed-report ingest over HTTPS (issue 5), on SQLite and PostgreSQL.

Simulated agents with real Ed25519 keys enroll through the API, then send pre-signed
``rra.report/1`` reports to a real ``rra auditor serve`` (uvicorn, TLS) started for the run:

* **single** — ``POST /api/v1/reports``, closed loop, ``--concurrency`` senders in ``--procs``
  client processes, for ``--duration`` seconds: sustained reports/s, p50/p99 latency.
* **batch** — ``POST /api/v1/reports/batch`` with ``--batch`` reports per request: reports/s and
  p50/p99 per request.
* **paced** — single reports at a fixed 100 reports/s (open loop) for ``--duration``: p50/p99.
* **baseline** — in this process, plain inserts of the same rows (history row + current-state
  upsert, one transaction per report) through SQLAlchemy without HTTP, signatures or checks.
  Reported as the ratio API rate ÷ plain rate.

Client processes share the 2 cores with the server, so the figures are a floor.

    .venv/bin/python bench/ingest.py [--backend sqlite|postgresql|both] [--duration 10]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.auditor.conftest import enroll_request  # noqa: E402
from tests.auditor.reports import make_report  # noqa: E402

from rra.agent.demo_fleet import free_loopback_port, wait_healthy  # noqa: E402
from rra.agent.identity import HostKey  # noqa: E402
from rra.auditor import admin  # noqa: E402
from rra.auditor.db import make_engine, session_scope  # noqa: E402
from rra.auditor.migrate import upgrade_to_head  # noqa: E402
from rra.auditor.models import HostState, ReportRow  # noqa: E402
from rra.auditor.tls import init_tls  # noqa: E402
from rra.checks.canonical import canonical_json  # noqa: E402

PG_SOCKET = "/var/run/postgresql"


@dataclass
class Signed:
    host_id: str
    payload: bytes
    signature: str


@dataclass
class Server:
    base_url: str
    ca: str
    process: subprocess.Popen[bytes]
    database_url: str


def start_server(data_dir: Path, database_url: str, workers: int) -> Server:
    paths = init_tls(data_dir / "tls", hostnames=["localhost"], ip_addresses=["127.0.0.1"])
    upgrade_to_head(database_url)
    port = free_loopback_port()
    env = dict(os.environ, RRA_AUDITOR_DATABASE_URL=database_url)
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "rra", "auditor", "--data-dir", str(data_dir), "serve",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    base = f"https://127.0.0.1:{port}"
    wait_healthy(base, paths.ca_cert, process, data_dir / "server.log")
    return Server(base, str(paths.ca_cert), process, database_url)


def enroll_hosts(server: Server, count: int, org: str) -> list[tuple[str, HostKey]]:
    engine = make_engine(server.database_url)
    hosts = []
    with httpx.Client(base_url=server.base_url, verify=server.ca) as client:
        for index in range(count):
            with session_scope(engine) as session:
                _row, token = admin.create_enroll_token(
                    session, org=org, expires_in=timedelta(hours=1)
                )
            key = HostKey.generate()
            body = enroll_request(token, key, machine_id=uuid.uuid4().hex, hostname=f"h{index}")
            answer = client.post("/api/v1/enroll", json=body)
            answer.raise_for_status()
            hosts.append((answer.json()["host_id"], key))
    engine.dispose()
    return hosts


def sign_reports(hosts: list[tuple[str, HostKey]], per_host: int, org: str) -> list[Signed]:
    """Realistic reports (real checks evaluated once per host), new ids and times per copy."""
    start = datetime.now(UTC) - timedelta(hours=2)
    signed = []
    for index, (host_id, key) in enumerate(hosts):
        template = make_report(org=org, hostname=f"h{index}")
        for seq in range(1, per_host + 1):
            report = template.model_copy(
                update={
                    "report_id": str(uuid.uuid4()),
                    "seq": seq,
                    "collected_at": start + timedelta(seconds=seq),
                }
            )
            payload = canonical_json(report)
            signed.append(Signed(host_id, payload, key.sign(payload)))
    return signed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def _client_process(args: tuple[str, str, str, list[Signed], int, float, float, int, Any]) -> None:
    base, ca, mode, items, threads, duration, rate, batch, queue = args
    latencies: list[float] = []
    sent = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + duration
    cursor = [0]

    def take(count: int) -> list[Signed]:
        with lock:
            start = cursor[0]
            cursor[0] += count
        return items[start : start + count]

    def worker(offset: float) -> None:
        with httpx.Client(base_url=base, verify=ca, timeout=30) as client:
            next_at = time.perf_counter() + offset
            while time.perf_counter() < deadline:
                if rate:
                    time.sleep(max(0.0, next_at - time.perf_counter()))
                    next_at += threads / rate
                chunk = take(batch if mode == "batch" else 1)
                if not chunk:
                    return
                started = time.perf_counter()
                if mode == "batch":
                    body = {
                        "reports": [
                            {"payload": s.payload.decode(), "signature": s.signature} for s in chunk
                        ]
                    }
                    # One host per batch request (X-RRA-Host): items were grouped per host.
                    answer = client.post(
                        "/api/v1/reports/batch", json=body, headers={"X-RRA-Host": chunk[0].host_id}
                    )
                else:
                    item = chunk[0]
                    answer = client.post(
                        "/api/v1/reports",
                        content=item.payload,
                        headers={
                            "X-RRA-Host": item.host_id,
                            "X-RRA-Signature": item.signature,
                            "Content-Type": "application/json",
                        },
                    )
                elapsed = time.perf_counter() - started
                if answer.status_code >= 300:
                    raise SystemExit(f"ingest failed: {answer.status_code} {answer.text[:200]}")
                with lock:
                    latencies.append(elapsed)
                    sent[0] += len(chunk)

    pool = [threading.Thread(target=worker, args=(i / max(rate, 1),)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put((sent[0], latencies))


def drive(
    server: Server,
    items: list[Signed],
    *,
    mode: str,
    procs: int,
    threads: int,
    duration: float,
    rate: float = 0.0,
    batch: int = 1,
) -> dict[str, float]:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    if mode == "batch":
        # Keep each batch within one host: split the (host-ordered) items per process in runs.
        per_proc = [items[i::procs] for i in range(procs)]
        per_proc = [sorted(p, key=lambda s: s.host_id) for p in per_proc]
    else:
        per_proc = [items[i::procs] for i in range(procs)]
    per_rate = rate / procs if rate else 0.0
    started = time.perf_counter()
    children = [
        ctx.Process(
            target=_client_process,
            args=(
                (
                    server.base_url,
                    server.ca,
                    mode,
                    chunk,
                    threads,
                    duration,
                    per_rate,
                    batch,
                    queue,
                ),
            ),
        )
        for chunk in per_proc
    ]
    for child in children:
        child.start()
    results = [queue.get() for _ in children]
    for child in children:
        child.join()
    elapsed = time.perf_counter() - started
    sent = sum(r[0] for r in results)
    latencies = [lat for r in results for lat in r[1]]
    return {
        "reports": sent,
        "seconds": round(elapsed, 2),
        "reports_per_s": round(sent / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }


def plain_inserts(database_url: str, items: list[Signed], seconds: float) -> dict[str, float]:
    """The same rows through SQLAlchemy, no HTTP, no signature, no checks: one txn per report."""
    engine = make_engine(database_url)
    done = 0
    started = time.perf_counter()
    for item in items:
        if time.perf_counter() - started > seconds:
            break
        document = json.loads(item.payload)
        moment = datetime.fromisoformat(document["collected_at"])
        with Session(engine) as session:
            session.add(
                ReportRow(
                    report_id=str(uuid.uuid4()),
                    host_id=item.host_id,
                    seq=document["seq"],
                    collected_at=moment,
                    received_at=datetime.now(UTC),
                    content_sha256="0" * 64,
                    payload=item.payload.decode(),
                    signature=item.signature,
                    score_total=document["score"]["total"],
                    metrics=document["metrics"],
                )
            )
            state = session.get(HostState, item.host_id)
            values = {
                "report_id": document["report_id"],
                "seq": document["seq"],
                "collected_at": moment,
                "received_at": datetime.now(UTC),
                "score_total": document["score"]["total"],
                "score": document["score"],
                "metrics": document["metrics"],
                "findings": document["findings"],
                "facts": document["facts"],
                "host_info": document["host"],
                "delivery": document["delivery"],
                "policy_id": "bench",
                "evaluated_at": datetime.now(UTC),
            }
            if state is None:
                session.add(HostState(host_id=item.host_id, **values))
            else:
                for name, value in values.items():
                    setattr(state, name, value)
                session.add(state)
            session.commit()
        done += 1
    elapsed = time.perf_counter() - started
    engine.dispose()
    return {
        "reports": done,
        "seconds": round(elapsed, 2),
        "reports_per_s": round(done / elapsed, 1),
    }


def run_backend(backend: str, options: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"rra-bench-{backend}-") as tmp:
        data_dir = Path(tmp)
        pg_name = f"rra_bench_{uuid.uuid4().hex[:8]}"
        if backend == "postgresql":
            with psycopg.connect(host=PG_SOCKET, dbname="postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{pg_name}"')
            url = f"postgresql+psycopg://root@/{pg_name}?host={PG_SOCKET}"
        else:
            url = f"sqlite:///{data_dir / 'auditor.db'}"
        server = start_server(data_dir, url, options.workers)
        try:
            org = "bench/unit"
            hosts = enroll_hosts(server, options.hosts, org)
            need = int(options.duration * 2500) // len(hosts) + 1
            print(f"[{backend}] signing {need * len(hosts)} reports per phase", file=sys.stderr)
            results: dict[str, Any] = {"backend": backend, "workers": options.workers}
            common = {"procs": options.procs, "duration": options.duration}
            results["single"] = drive(
                server, sign_reports(hosts, need, org), mode="single",
                threads=options.concurrency, **common,
            )  # fmt: skip
            results["batch"] = drive(
                server, sign_reports(hosts, need * 2, org), mode="batch",
                threads=max(2, options.concurrency // 4), batch=options.batch, **common,
            )  # fmt: skip
            results["paced_100"] = drive(
                server, sign_reports(hosts, need, org), mode="single",
                threads=8, rate=100.0, **common,
            )  # fmt: skip
            results["baseline_plain_inserts"] = plain_inserts(
                url, sign_reports(hosts, need, org), options.duration
            )
            plain = results["baseline_plain_inserts"]["reports_per_s"]
            results["ratio_single_vs_plain"] = round(results["single"]["reports_per_s"] / plain, 3)
            results["ratio_batch_vs_plain"] = round(results["batch"]["reports_per_s"] / plain, 3)
        finally:
            server.process.terminate()
            server.process.wait(timeout=30)
            if backend == "postgresql":
                with psycopg.connect(host=PG_SOCKET, dbname="postgres", autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="threads per client process")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    options = parser.parse_args()
    backends = ["sqlite", "postgresql"] if options.backend == "both" else [options.backend]
    for backend in backends:
        print(json.dumps(run_backend(backend, options), indent=2))


if __name__ == "__main__":
    main()
