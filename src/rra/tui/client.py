"""An async client of the auditor's HTTP API (``/api/v1``), for the TUI.

Every failure is one of three typed errors, so screens can tell an auditor that is down (keep the
last data, show the banner, retry) from one that refused (say why) without parsing text. The token
is sent as a bearer header only; it never appears in an error message.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import TypeAdapter, ValidationError

from rra.checks.protocol import API_PREFIX
from rra.checks.report import Report
from rra.tui.models import (
    DrillResult,
    DrillRun,
    HostDetail,
    HostSummary,
    OrgRollup,
    Playbook,
    ScorePoint,
    TrendPoint,
)

T = TypeVar("T")

HOST_PAGE_SIZE: Final = 500  # the API's largest page: 20 requests for a 10,000-host fleet
DEFAULT_TIMEOUT: Final = 10.0


class AuditorError(Exception):
    """The auditor answered, but not with what was asked for."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AuditorUnreachable(AuditorError):
    """No answer at all: connection refused, TLS failure, timeout."""


class AuditorAuthError(AuditorError):
    """401 (missing, revoked or unknown token) or 403 (the token's role may not do this)."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """The auditor URL without a trailing slash; plain HTTP is refused off loopback, since the
    bearer token would cross the network in the clear."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"auditor URL must be https://HOST[:PORT], not {url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("plain http:// is allowed only on loopback; use https://")
    return url.rstrip("/")


def read_token(path: Path) -> str:
    """The API token from a file (first line); the token is never taken from argv."""
    try:
        token = path.read_text(encoding="utf-8").strip().splitlines()
    except OSError as error:
        raise ValueError(f"cannot read the token file {path}: {error.strerror}") from None
    if not token or not token[0].strip():
        raise ValueError(f"the token file {path} is empty")
    return token[0].strip()


# Public: bench/tui.py validates pages exactly as the client does.
HOST_LIST = TypeAdapter(list[HostSummary])
_POINTS = TypeAdapter(list[ScorePoint])
_ORGS = TypeAdapter(list[OrgRollup])
_TREND = TypeAdapter(list[TrendPoint])
_DRILLS = TypeAdapter(list[DrillResult])
_RUNS = TypeAdapter(list[DrillRun])
_PLAYBOOKS = TypeAdapter(list[Playbook])
_HOST = TypeAdapter(HostDetail)
_RUN = TypeAdapter(DrillRun)


class AuditorClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ca_cert: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_cert))
            if ca_cert is not None
            else ssl.create_default_context()
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            verify=verify,
            timeout=timeout,
            transport=transport,
            trust_env=False,  # no proxy between an inspector and the auditor unless configured
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, f"{API_PREFIX}{path}", **kwargs)
        except httpx.TimeoutException:
            raise AuditorUnreachable(
                f"the auditor at {self.base_url} did not answer in time"
            ) from None
        except httpx.TransportError as error:
            raise AuditorUnreachable(
                f"cannot reach the auditor at {self.base_url}: {type(error).__name__}: {error}"
            ) from None
        if response.status_code in (401, 403):
            raise AuditorAuthError(_detail(response), response.status_code)
        if response.status_code >= 400:
            raise AuditorError(_detail(response), response.status_code)
        return response

    async def _json(self, path: str, **params: Any) -> Any:
        query = {key: value for key, value in params.items() if value is not None}
        response = await self._request("GET", path, params=query)
        try:
            return response.json()
        except ValueError:
            raise AuditorError(f"the auditor answered {path} with something not JSON") from None

    async def host_pages(self, page_size: int = HOST_PAGE_SIZE) -> AsyncIterator[list[HostSummary]]:
        """The whole fleet in scope, a page at a time (the first page arrives quickly)."""
        offset = 0
        while True:
            page = await self._json("/hosts", limit=page_size, offset=offset)
            hosts = _validated(HOST_LIST, page.get("items", []), "/hosts")
            yield hosts
            offset += len(hosts)
            if not hosts or offset >= int(page.get("total", 0)):
                return

    async def host(self, host_id: str) -> HostDetail:
        return _validated(_HOST, await self._json(f"/hosts/{host_id}"), "/hosts/{id}")

    async def host_report(self, host_id: str) -> Report | None:
        """The latest report exactly as signed (facts: backups, accounts, sources); None when the
        host has not reported yet."""
        try:
            response = await self._request("GET", f"/hosts/{host_id}/report")
        except AuditorError as error:
            if error.status_code == 404:
                return None
            raise
        try:
            return Report.model_validate_json(response.content)
        except ValidationError as error:
            raise AuditorError(f"the host's report does not parse: {error}") from None

    async def host_history(self, host_id: str, limit: int = 100) -> list[ScorePoint]:
        data = await self._json(f"/hosts/{host_id}/history", limit=limit)
        return _validated(_POINTS, data, "/hosts/{id}/history")

    async def host_drills(self, host_id: str, limit: int = 20) -> list[DrillResult]:
        data = await self._json(f"/hosts/{host_id}/drills", limit=limit)
        return _validated(_DRILLS, data.get("items", []), "/hosts/{id}/drills")

    async def orgs(self, depth: int | None = None) -> list[OrgRollup]:
        return _validated(_ORGS, await self._json("/orgs", depth=depth), "/orgs")

    async def trend(self, org: str | None = None, days: int = 30) -> list[TrendPoint]:
        return _validated(_TREND, await self._json("/trend", org=org, days=days), "/trend")

    async def drills(self, limit: int = 100) -> list[DrillResult]:
        data = await self._json("/drills", limit=limit)
        return _validated(_DRILLS, data.get("items", []), "/drills")

    async def runs(self, limit: int = 100, state: str | None = None) -> list[DrillRun]:
        data = await self._json("/drills/runs", limit=limit, state=state)
        return _validated(_RUNS, data.get("items", []), "/drills/runs")

    async def playbooks(self) -> list[Playbook]:
        return _validated(_PLAYBOOKS, await self._json("/playbooks"), "/playbooks")

    async def trigger_run(self, playbook: str, host: str) -> DrillRun:
        """Run ``playbook`` on ``host`` now (admin tokens only: an inspector gets a 403)."""
        response = await self._request(
            "POST", "/drills/runs", json={"playbook": playbook, "host": host}
        )
        return _validated(_RUN, response.json(), "/drills/runs")


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # FastAPI's 422: a list of field errors
        detail = "; ".join(str(item.get("msg", item)) for item in detail if isinstance(item, dict))
    text = str(detail) if detail else response.reason_phrase
    return f"{response.status_code} {text}"


def _validated(adapter: TypeAdapter[T], data: Any, where: str) -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as error:
        raise AuditorError(
            f"unexpected answer from {where}: {error.error_count()} error(s)"
        ) from None
