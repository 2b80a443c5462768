"""``GET /healthz`` and ``GET /metrics`` (outside /api/v1: they are for load balancers and
Prometheus). Health needs no token; metrics name every org and its score, so they need an
agency-wide token (``rra auditor token create --role inspector --org / --name prometheus``)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from rra.auditor.api.deps import EngineDep, ReaderDep
from rra.auditor.metrics import app_metrics

router = APIRouter(tags=["system"])
log = structlog.get_logger(__name__)


@router.get(
    "/healthz",
    summary="Liveness and database reachability",
    responses={503: {"description": "The database is unreachable"}},
)
def healthz(engine: EngineDep) -> JSONResponse:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health check: database unreachable", error=str(exc))
        content: dict[str, Any] = {"status": "error", "database": "unreachable"}
        return JSONResponse(content, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get(
    "/metrics",
    summary="Prometheus metrics (agency-wide token)",
    response_class=Response,
    responses={403: {"description": "The token is scoped to an org"}},
)
def metrics(request: Request, principal: ReaderDep) -> Response:
    if principal.scope != "":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="metrics need an agency-wide token")
    # Sync handler: the fleet gauges query the database, so this runs in a worker thread.
    registry = app_metrics(request.app).registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
