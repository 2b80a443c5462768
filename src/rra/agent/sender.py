"""Delivery to the auditor: HTTPS with the auditor's CA pinned, batches drained oldest first.

A report leaves the spool only when the auditor acknowledged it (``stored``/``duplicate``);
``rejected`` is permanent and set aside (counted as dropped). Transport errors, 5xx and 429 are
retried with jittered exponential backoff; a 401/403 for the whole request means this host's
identity is refused, which no retry can fix, so it stops the drain (docs/protocol.md).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import TypeVar

import httpx
import structlog
from pydantic import ValidationError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from rra.agent.spool import Spool, SpoolEntry
from rra.checks.protocol import (
    API_PREFIX,
    HOST_HEADER,
    SIGNATURE_HEADER,
    BatchRequest,
    BatchResponse,
    ClaimedDrill,
    DrillClaimResponse,
    DrillResultAck,
    IngestResult,
)

log = structlog.get_logger(__name__)

# Half the auditor's default server.max_batch_bytes (16 MiB): JSON-escaping the payload strings
# inflates them, and a 413 costs a round trip (the batch is then halved).
MAX_BATCH_BYTES = 8 * 1024 * 1024
_JSON = {"Content-Type": "application/json"}


class AuditorSettingsError(ValueError):
    """The auditor URL or CA file given to the agent is unusable (bad input, exit 2)."""


class DeliveryError(Exception):
    """The auditor could not be reached or refused the request (operational, exit 10)."""


class AuthRejected(DeliveryError):
    """401/403 for a whole request: the auditor does not accept this host's identity."""


class _Retryable(Exception):
    pass


class BatchTooLarge(DeliveryError):
    """413: the batch exceeds the auditor's size limit (the drain halves it)."""


_Answer = TypeVar("_Answer", IngestResult, BatchResponse, DrillClaimResponse, DrillResultAck)
# A single report with one of these is refused for good; anything else is not about the report.
_REPORT_REFUSALS = frozenset({400, 409, 413, 422})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    max_wait: float = 60.0  # seconds, upper bound of one backoff wait
    initial_wait: float = 1.0  # seconds, scale of the first backoff wait


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_auditor_url(url: str) -> str:
    """The auditor's base URL without a trailing slash; plain http only for a loopback auditor."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise AuditorSettingsError(f"auditor URL {url!r} is invalid: {exc}") from None
    if parsed.scheme not in {"https", "http"} or not parsed.host:
        raise AuditorSettingsError(f"auditor URL {url!r}: expected https://HOST[:PORT]")
    if parsed.userinfo:
        raise AuditorSettingsError("auditor URL must not contain credentials")
    if parsed.scheme == "http" and not is_loopback(parsed.host):
        raise AuditorSettingsError(
            f"auditor URL {url!r}: plain http is allowed only for a loopback auditor "
            "(127.0.0.1, ::1, localhost); use https:// with --ca-cert"
        )
    return str(parsed.copy_with(query=None, fragment=None)).rstrip("/")


def tls_context(ca_file: Path) -> ssl.SSLContext:
    """Trust exactly the auditor's CA, not the system store: that is the pin."""
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except FileNotFoundError:
        raise AuditorSettingsError(f"{ca_file}: CA certificate file not found") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise AuditorSettingsError(f"{ca_file}: not a PEM CA certificate ({exc})") from None


def open_client(auditor_url: str, ca_cert: Path | None, timeout: float) -> httpx.Client:
    base_url = validate_auditor_url(auditor_url)
    verify: ssl.SSLContext | bool = True
    if base_url.startswith("https://"):
        if ca_cert is None:
            raise AuditorSettingsError("an https auditor needs its CA certificate (--ca-cert)")
        verify = tls_context(ca_cert)
    # trust_env=False: proxy variables, SSL_CERT_FILE or a .netrc must not undo the pin or
    # redirect reports.
    return httpx.Client(base_url=base_url, verify=verify, timeout=timeout, trust_env=False)


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def is_tls_failure(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLError) for e in _chain(exc))


def describe_transport_error(exc: httpx.TransportError, url: str) -> str:
    if is_tls_failure(exc):
        return (
            f"TLS verification of the auditor at {url} failed ({exc}); is the CA file the "
            "auditor's CA (made by 'rra auditor init')?"
        )
    if any(isinstance(e, ConnectionRefusedError) for e in _chain(exc)):
        return f"cannot connect to the auditor at {url}: connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return f"the auditor at {url} did not answer in time ({type(exc).__name__})"
    return f"cannot reach the auditor at {url}: {exc or type(exc).__name__}"


def response_detail(response: httpx.Response) -> str:
    """The auditor's ``{"detail": ...}``, else the start of the body; for messages only."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = detail if isinstance(detail, str) else response.text[:200]
    return f"{response.status_code} {text}".strip()


@dataclass
class DrainTally:
    """Progress of one drain; kept up to date so it is right even when the drain stops early."""

    acknowledged: int = 0
    rejected: int = 0


class Sender:
    def __init__(self, client: httpx.Client, host_id: str, retry: RetryPolicy) -> None:
        self.client = client
        self.host_id = host_id
        self.retry = retry

    def close(self) -> None:
        self.client.close()

    def _attempt(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        try:
            response = self.client.post(path, content=body, headers=headers)
        except httpx.TransportError as exc:
            message = describe_transport_error(exc, str(self.client.base_url))
            if is_tls_failure(exc):
                raise DeliveryError(message) from None  # a wrong CA does not fix itself
            raise _Retryable(message) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"the auditor answered {response_detail(response)}")
        if response.status_code in (401, 403):
            raise AuthRejected(
                f"the auditor refused host {self.host_id}: {response_detail(response)}"
                " (retired or unknown host: re-enroll with a new token)"
            )
        return response

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait_random_exponential(
                multiplier=self.retry.initial_wait, max=self.retry.max_wait
            ),
            retry=retry_if_exception_type(_Retryable),
            before_sleep=lambda state: log.warning(
                "auditor unavailable, retrying",
                attempt=state.attempt_number,
                error=str(state.outcome.exception()) if state.outcome else None,
            ),
            reraise=True,
        )
        try:
            return retrying(self._attempt, path, body, {**_JSON, **headers})
        except _Retryable as exc:
            raise DeliveryError(f"{exc} (gave up after {self.retry.attempts} attempts)") from None

    def send_report(self, payload: bytes, signature: str) -> IngestResult:
        """``POST /api/v1/reports``: one report, the body exactly the signed bytes."""
        headers = {HOST_HEADER: self.host_id, SIGNATURE_HEADER: signature}
        response = self._post(f"{API_PREFIX}/reports", payload, headers)
        if response.status_code in (200, 201):
            return _parse(IngestResult, response)
        if response.status_code in _REPORT_REFUSALS:
            return IngestResult(status="rejected", error=response_detail(response))
        raise DeliveryError(f"the auditor refused the report: {response_detail(response)}")

    def claim_drills(self, body: bytes, signature: str) -> list[ClaimedDrill]:
        """``POST /api/v1/drills/claim``: this host's due drill runs, claimed atomically."""
        headers = {HOST_HEADER: self.host_id, SIGNATURE_HEADER: signature}
        response = self._post(f"{API_PREFIX}/drills/claim", body, headers)
        if response.status_code == 404:
            # An auditor older than drill scheduling: nothing to claim; reports still flow.
            log.warning("the auditor does not schedule drills (no /drills/claim)")
            return []
        if response.status_code != 200:
            raise DeliveryError(f"the auditor refused the drill claim: {response_detail(response)}")
        return _parse(DrillClaimResponse, response).runs

    def send_drill_result(self, payload: bytes, signature: str) -> DrillResultAck:
        """``POST /api/v1/drills/results``: one signed ``rra.drill/1`` document."""
        headers = {HOST_HEADER: self.host_id, SIGNATURE_HEADER: signature}
        response = self._post(f"{API_PREFIX}/drills/results", payload, headers)
        if response.status_code in (200, 201):
            return _parse(DrillResultAck, response)
        if response.status_code in _REPORT_REFUSALS:
            return DrillResultAck(status="rejected", error=response_detail(response))
        raise DeliveryError(f"the auditor refused the drill result: {response_detail(response)}")

    def send_batch(self, entries: list[SpoolEntry]) -> list[IngestResult]:
        """``POST /api/v1/reports/batch``: one result per entry, in the same order."""
        request = BatchRequest(reports=[entry.as_batch_item() for entry in entries])
        body = request.model_dump_json().encode("utf-8")
        response = self._post(f"{API_PREFIX}/reports/batch", body, {HOST_HEADER: self.host_id})
        if response.status_code == 413:
            raise BatchTooLarge(response_detail(response))
        if response.status_code != 200:
            raise DeliveryError(f"the auditor refused the batch: {response_detail(response)}")
        results = _parse(BatchResponse, response).results
        if len(results) != len(entries) or any(
            result.report_id not in (None, entry.report_id)
            for entry, result in zip(entries, results, strict=False)
        ):
            raise DeliveryError("the auditor's batch answer does not match the reports sent")
        return results

    def drain(
        self,
        spool: Spool,
        batch_size: int = 50,
        *,
        tally: DrainTally | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> DrainTally:
        """Send the spool oldest first until it is empty; raises DeliveryError when it cannot."""
        tally = tally if tally is not None else DrainTally()
        limit = batch_size
        while not should_stop():
            batch = _fit(spool.entries(limit=limit), MAX_BATCH_BYTES)
            if not batch:
                break
            try:
                results = self.send_batch(batch)
            except BatchTooLarge:
                if len(batch) == 1:
                    spool.reject(batch[0], "larger than the auditor accepts (413)")
                    tally.rejected += 1
                limit = max(1, len(batch) // 2)
                continue
            for entry, result in zip(batch, results, strict=True):
                if result.status == "rejected":
                    spool.reject(entry, result.error)
                    tally.rejected += 1
                else:
                    spool.remove(entry)
                    tally.acknowledged += 1
            log.info("batch delivered", reports=len(batch), acknowledged=tally.acknowledged)
        return tally


def _fit(entries: list[SpoolEntry], max_bytes: int) -> list[SpoolEntry]:
    """The longest prefix within ``max_bytes`` (always at least one entry)."""
    batch: list[SpoolEntry] = []
    total = 0
    for entry in entries:
        total += entry.size
        if batch and total > max_bytes:
            break
        batch.append(entry)
    return batch


def _parse(model: type[_Answer], response: httpx.Response) -> _Answer:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise DeliveryError(
            f"the auditor answered an invalid {model.__name__} ({exc.error_count()} errors)"
        ) from None
