"""Prometheus metrics: ingest counters and latency, plus fleet gauges read from the database.

Each app gets its own ``CollectorRegistry`` (never the global one), so several apps in one process
(tests, embedded servers) do not share or collide on counters.

Counters and the histogram live in process memory: with N ``rra auditor serve`` replicas (or
uvicorn workers) each process counts only what it served; sum them in PromQL
(``sum(rate(rra_ingest_reports_total[5m]))``). The fleet gauges come from the database on every
scrape, so every replica reports the same fleet-wide values — scrape one, or dedupe by ``max``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from rra.auditor.lifecycle import HOST_STATUSES, status_filter
from rra.auditor.models import HostRow
from rra.auditor.rollup import org_scores
from rra.auditor.settings import AuditorSettings

log = structlog.get_logger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class FleetCollector(Collector):
    """Gauges computed from the database at scrape time (never cached: they must not drift)."""

    def __init__(self, engine: Engine, settings: AuditorSettings) -> None:
        self._engine = engine
        self._settings = settings

    def collect(self) -> Iterator[Metric]:
        try:
            families = self._families(datetime.now(UTC))
        except SQLAlchemyError as exc:
            # A scrape must still return the process metrics when the database is down; the
            # missing series (and /healthz) say the rest.
            log.warning("fleet metrics unavailable", error=str(exc))
            return
        yield from families

    def _families(self, now: datetime) -> list[Metric]:
        hosts = GaugeMetricFamily(
            "rra_hosts", "Enrolled hosts by lifecycle status", labels=["status"]
        )
        org_score = GaugeMetricFamily(
            "rra_org_score",
            "Criticality-weighted mean of current host scores per org (stale hosts count as 0)",
            labels=["org"],
        )
        dropped = CounterMetricFamily(
            "rra_agent_dropped_reports",
            "Reports agents dropped from their spools, summed over hosts (as last reported)",
        )
        with self._engine.connect() as connection:
            # One round trip: a conditional sum per status, and the dropped total.
            per_status = [
                func.coalesce(
                    func.sum(case((status_filter(s, now, self._settings), 1), else_=0)), 0
                )
                for s in HOST_STATUSES
            ]
            dropped_sum = func.coalesce(func.sum(col(HostRow.dropped_reports)), 0)
            counts = connection.execute(select(*per_status, dropped_sum)).one()
            for status, count in zip(HOST_STATUSES, counts, strict=False):
                hosts.add_metric([status], float(count))
            dropped.add_metric([], float(counts[-1]))
        with Session(self._engine) as session:
            # The same rollup the API publishes, so the gauge and /orgs can never disagree.
            for org, score in sorted(org_scores(session, now, self._settings).items()):
                org_score.add_metric([org], score)
        return [hosts, org_score, dropped]


class AuditorMetrics:
    def __init__(self, engine: Engine, settings: AuditorSettings) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.reports = Counter(
            "rra_ingest_reports",
            "Reports received, by result (stored, duplicate, rejected) and reason (per process)",
            ["result", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rra_ingest_latency_seconds",
            "Time to answer an ingest request, by endpoint (per process)",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(FleetCollector(engine, settings))

    def count(self, result: str, reason: str) -> None:
        self.reports.labels(result=result, reason=reason).inc()


_create_lock = threading.Lock()


def app_metrics(app: FastAPI) -> AuditorMetrics:
    """The app's metrics, created on first use (create_app stays free of metric wiring)."""
    existing: AuditorMetrics | None = getattr(app.state, "metrics", None)
    if existing is not None:
        return existing
    with _create_lock:
        existing = getattr(app.state, "metrics", None)
        if existing is None:
            existing = AuditorMetrics(app.state.engine, app.state.settings)
            app.state.metrics = existing
        return existing
