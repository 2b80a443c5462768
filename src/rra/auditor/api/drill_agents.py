"""``POST /api/v1/drills/claim`` and ``POST /api/v1/drills/results``: the host-signed drill
endpoints (docs/protocol.md). Agents authenticate with their host key exactly as for reports;
the handlers only read the body under its size limit and run the rest in a worker thread
(``rra.auditor.drills.signed``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rra.auditor.api.bodies import read_limited_body
from rra.auditor.api.deps import EngineDep, SettingsDep
from rra.auditor.api.reports import HostHeader, SignatureHeader, host_keys
from rra.auditor.drills.signed import MAX_CLAIM_BYTES, claim_for_host, result_from_host
from rra.auditor.ingest import UNAUTHORIZED, IngestRejected
from rra.checks.protocol import API_PREFIX, DrillClaimResponse, DrillResultAck

router = APIRouter(prefix=f"{API_PREFIX}/drills", tags=["drill agents"])

_COMMON: dict[int | str, dict[str, Any]] = {
    400: {"description": "Body is not JSON"},
    401: {"description": "Unknown host or invalid signature"},
    403: {"description": "Host is retired"},
    413: {"description": "Body too large"},
}


def _refusal(error: IngestRejected) -> HTTPException:
    headers = {"WWW-Authenticate": "Signature"} if error.status_code == 401 else None
    return HTTPException(error.status_code, detail=error.detail, headers=headers)


@router.post(
    "/claim",
    response_model=DrillClaimResponse,
    responses=_COMMON
    | {422: {"description": "Not a DrillClaimRequest, or requested_at off by more than 5 min"}},
    summary="Claim this host's due drill runs (host-signed)",
    description="Body: `canonical_json(DrillClaimRequest)` signed with the host key. Each run is "
    "claimed atomically (exactly once across replicas) with a lease; the answer carries the "
    "playbook YAML to run. An empty `runs` list means nothing is due.",
)
async def claim(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    host_id: HostHeader = None,
    signature: SignatureHeader = None,
) -> DrillClaimResponse:
    try:
        body = await read_limited_body(
            request, min(MAX_CLAIM_BYTES, settings.server.max_body_bytes)
        )
        if not host_id or not signature:
            raise IngestRejected(401, "unauthorized", UNAUTHORIZED)
        return await run_in_threadpool(
            claim_for_host, engine, host_keys(request.app), host_id, body, signature,
            datetime.now(UTC),
        )  # fmt: skip
    except IngestRejected as error:
        raise _refusal(error) from None


@router.post(
    "/results",
    status_code=status.HTTP_201_CREATED,
    response_model=DrillResultAck,
    responses=_COMMON
    | {
        200: {"model": DrillResultAck, "description": "A replay of a stored result (no-op)"},
        403: {"description": "Host is retired, or run_id is not a run this host claimed"},
        409: {"description": "drill_id stored with other content, or the run already answered"},
        422: {"description": "Not a valid rra.drill/1, or timestamps in the future"},
    },
    summary="Deliver one signed drill result (host-signed)",
    description="Body: `canonical_json(result)` (`rra.drill/1`) exactly as signed. 201 stored, "
    "200 duplicate. The host is the signer; the result's `hostname` is informational. The "
    "host's score is re-evaluated at once.",
)
async def post_result(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    host_id: HostHeader = None,
    signature: SignatureHeader = None,
) -> JSONResponse:
    try:
        body = await read_limited_body(request, settings.server.max_body_bytes)
        if not host_id or not signature:
            raise IngestRejected(401, "unauthorized", UNAUTHORIZED)
        ack, code = await run_in_threadpool(
            result_from_host, engine, host_keys(request.app), host_id, body, signature, settings,
            datetime.now(UTC),
        )  # fmt: skip
    except IngestRejected as error:
        raise _refusal(error) from None
    return JSONResponse(ack.model_dump(mode="json"), status_code=code)
