"""``POST /api/v1/enroll``: an agent trades a single-use enrollment token for a host id.

No API token: the enrollment token is the credential, and the proof shows the caller holds the
private half of the key it enrolls.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydantic_core
from fastapi import APIRouter, HTTPException, Request, status
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from rra.auditor.api.bodies import read_limited_body
from rra.auditor.api.deps import EngineDep
from rra.auditor.db import session_scope
from rra.auditor.enrollment import EnrollmentRefused, enroll_host
from rra.auditor.ingest import IngestRejected, validation_summary
from rra.checks.protocol import API_PREFIX, EnrollRequest, EnrollResponse

router = APIRouter(prefix=API_PREFIX, tags=["enrollment"])

# An EnrollRequest is a few hundred bytes; nobody needs to send more to this unauthenticated URL.
MAX_ENROLL_BYTES = 16 * 1024

_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Body is not JSON"},
    401: {"description": "Token unknown, expired or used; or the proof does not verify"},
    409: {"description": "This public key is already enrolled"},
    413: {"description": "Body too large"},
    422: {"description": "Not a valid EnrollRequest"},
}


def _enroll(engine: Engine, body: bytes) -> EnrollResponse:
    try:
        document = pydantic_core.from_json(body.decode("utf-8"), allow_inf_nan=False)
    except ValueError as exc:
        raise EnrollmentRefused(400, f"body is not UTF-8 JSON: {exc}") from None
    try:
        enroll_request = EnrollRequest.model_validate(document)
    except ValidationError as exc:
        raise EnrollmentRefused(422, validation_summary(exc, "EnrollRequest")) from None
    with session_scope(engine) as session:
        return enroll_host(session, enroll_request, datetime.now(UTC))


@router.post(
    "/enroll",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrollResponse,
    responses=_RESPONSES,
    summary="Enroll a host key with a single-use enrollment token",
    description="Body: `EnrollRequest`; `proof` is the new key's signature over "
    "`canonical_json(request without proof)`. See docs/protocol.md.",
)
async def post_enroll(request: Request, engine: EngineDep) -> EnrollResponse:
    try:
        body = await read_limited_body(request, MAX_ENROLL_BYTES)
        return await run_in_threadpool(_enroll, engine, body)
    except (IngestRejected, EnrollmentRefused) as error:
        raise HTTPException(error.status_code, detail=error.detail) from None
