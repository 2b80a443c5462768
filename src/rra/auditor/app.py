"""The auditor's FastAPI application. Stateless: N replicas can serve one PostgreSQL database."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from rra import __version__
from rra.auditor.db import make_engine
from rra.auditor.settings import AuditorSettings, load_settings
from rra.checks.protocol import API_PREFIX


def create_app(settings: AuditorSettings, engine: Engine | None = None) -> FastAPI:
    app = FastAPI(
        title="rra auditor",
        version=__version__,
        summary="Recovery Readiness Auditor: signed host reports, scores, org rollups.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.resolved_database_url)
    # Routers are added here by rra.auditor.api.* modules (see include_routers).
    include_routers(app)
    return app


def include_routers(app: FastAPI) -> None:
    """Every resource router; kept in one place so the published OpenAPI lists them all."""
    from rra.auditor.api import admin_routes, drills, findings, hosts, orgs, playbooks

    app.include_router(hosts.router)
    app.include_router(orgs.router)
    app.include_router(orgs.trend_router)
    app.include_router(findings.router)
    app.include_router(admin_routes.router)
    app.include_router(drills.router)
    app.include_router(playbooks.router)

    # The write path: enrollment, report ingest, health and Prometheus metrics.
    from rra.auditor.api import drill_agents, enroll, reports, system

    app.include_router(enroll.router)
    app.include_router(reports.router)
    app.include_router(drill_agents.router)
    app.include_router(system.router)


def app_from_env() -> FastAPI:
    """uvicorn factory (``rra auditor serve``): settings from RRA_AUDITOR_DATA_DIR/_CONFIG."""
    data_dir = os.environ.get("RRA_AUDITOR_DATA_DIR")
    config = os.environ.get("RRA_AUDITOR_CONFIG")
    settings = load_settings(Path(data_dir) if data_dir else None, Path(config) if config else None)
    return create_app(settings)
