"""Request bodies read under a byte limit.

The limit is checked on Content-Length *and* while the body streams in: the header may be absent
(chunked transfer) or wrong, and a body is never buffered beyond the limit, whatever it claims.
"""

from __future__ import annotations

from fastapi import Request

from rra.auditor.ingest import IngestRejected


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The whole body, or ``IngestRejected`` 413 as soon as it exceeds ``limit`` bytes."""
    too_large = IngestRejected(413, "too_large", f"request body exceeds {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise IngestRejected(400, "malformed", "Content-Length is not a number")
        if int(declared) > limit:
            raise too_large
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise too_large
    return bytes(received)
