"""``POST /api/v1/reports`` and ``POST /api/v1/reports/batch``: signed reports from agents.

Agents authenticate with their host key (``X-RRA-Host`` + ``X-RRA-Signature``), not an API token.
The handlers only read the body under its size limit; authentication, validation, evaluation and
storage run in a worker thread (rra.auditor.ingest), so the event loop never waits on them.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, FastAPI, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from rra.auditor.api.bodies import read_limited_body
from rra.auditor.api.deps import EngineDep, SettingsDep
from rra.auditor.hostkeys import HostKeyCache
from rra.auditor.ingest import (
    UNAUTHORIZED,
    IngestRejected,
    Outcome,
    ingest_batch,
    ingest_single,
    validation_summary,
)
from rra.auditor.metrics import AuditorMetrics, app_metrics
from rra.auditor.settings import AuditorSettings
from rra.checks.protocol import (
    API_PREFIX,
    HOST_HEADER,
    SIGNATURE_HEADER,
    BatchRequest,
    BatchResponse,
    IngestResult,
)

router = APIRouter(prefix=API_PREFIX, tags=["reports"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    200: {"model": IngestResult, "description": "A replay of a stored report (no-op)"},
    400: {"description": "Body is not JSON"},
    401: {"description": "Unknown host or invalid signature"},
    403: {"description": "Host is retired"},
    409: {"description": "report_id already stored with other content"},
    413: {"description": "Body too large"},
    422: {"description": "Not a valid rra.report/1, or collected_at in the future"},
}
_cache_lock = threading.Lock()

HostHeader = Annotated[str | None, Header(alias=HOST_HEADER, description="The enrolled host id")]
SignatureHeader = Annotated[
    str | None,
    Header(alias=SIGNATURE_HEADER, description="base64 Ed25519 signature over the exact body"),
]


def host_keys(app: FastAPI) -> HostKeyCache:
    keys: HostKeyCache | None = getattr(app.state, "host_keys", None)
    if keys is None:
        with _cache_lock:
            keys = getattr(app.state, "host_keys", None)
            if keys is None:
                keys = HostKeyCache()
                app.state.host_keys = keys
    return keys


def _count(metrics: AuditorMetrics, outcome: Outcome) -> None:
    metrics.count(outcome.result.status, outcome.reason)


def _refuse(metrics: AuditorMetrics, error: IngestRejected) -> HTTPException:
    metrics.count("rejected", error.reason)
    headers = {"WWW-Authenticate": "Signature"} if error.status_code == 401 else None
    return HTTPException(error.status_code, detail=error.detail, headers=headers)


@router.post(
    "/reports",
    status_code=status.HTTP_201_CREATED,
    response_model=IngestResult,
    responses=_ERRORS,
    summary="Submit one signed report",
    description="Body: `canonical_json(report)` (`rra.report/1`, see `rra schema report`) exactly "
    "as signed. 201 stored, 200 duplicate (a replay); see docs/protocol.md for the order of checks.",
)
async def post_report(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    host_id: HostHeader = None,
    signature: SignatureHeader = None,
) -> JSONResponse:
    metrics = app_metrics(request.app)
    with metrics.latency.labels(endpoint="single").time():
        try:
            body = await read_limited_body(request, settings.server.max_body_bytes)
        except IngestRejected as error:
            raise _refuse(metrics, error) from None
        if not host_id or not signature:
            raise _refuse(metrics, IngestRejected(401, "unauthorized", UNAUTHORIZED))
        outcome = await run_in_threadpool(
            ingest_single,
            engine,
            host_keys(request.app),
            host_id,
            body,
            signature,
            settings,
            datetime.now(UTC),
        )
        if outcome.result.status == "rejected":
            refusal = IngestRejected(
                outcome.http_status, outcome.reason, outcome.result.error or ""
            )
            raise _refuse(metrics, refusal)
        _count(metrics, outcome)
        return JSONResponse(outcome.result.model_dump(mode="json"), status_code=outcome.http_status)


def _batch(
    app: FastAPI,
    settings: AuditorSettings,
    engine: Engine,
    host_id: str,
    body: bytes,
    now: datetime,
) -> list[Outcome]:
    try:
        document = pydantic_core.from_json(body.decode("utf-8"), allow_inf_nan=False)
    except ValueError as exc:
        raise IngestRejected(400, "malformed", f"body is not UTF-8 JSON: {exc}") from None
    try:
        batch = BatchRequest.model_validate(document)
    except ValidationError as exc:
        raise IngestRejected(422, "invalid", validation_summary(exc, "BatchRequest")) from None
    return ingest_batch(engine, host_keys(app), host_id, batch.reports, settings, now)


@router.post(
    "/reports/batch",
    response_model=BatchResponse,
    responses={k: v for k, v in _ERRORS.items() if k not in (200, 409)},
    summary="Submit up to 100 signed reports of one host, oldest first",
    description="Body: `BatchRequest` `{reports: [{payload, signature}, ...]}`. Results come in "
    "the same order: `stored` and `duplicate` acknowledge, `rejected` is permanent.",
)
async def post_batch(
    request: Request, settings: SettingsDep, engine: EngineDep, host_id: HostHeader = None
) -> BatchResponse:
    metrics = app_metrics(request.app)
    with metrics.latency.labels(endpoint="batch").time():
        try:
            body = await read_limited_body(request, settings.server.max_batch_bytes)
            if not host_id:
                raise IngestRejected(401, "unauthorized", UNAUTHORIZED)
            outcomes = await run_in_threadpool(
                _batch, request.app, settings, engine, host_id, body, datetime.now(UTC)
            )
        except IngestRejected as error:
            raise _refuse(metrics, error) from None
        for outcome in outcomes:
            _count(metrics, outcome)
        return BatchResponse(results=[outcome.result for outcome in outcomes])
