"""Store agentless reports exactly like agents' reports, signed by the auditor's own key.

An agentless host is a ``hosts`` row with ``collection = 'agentless'`` and no public key (so no
agent can ever post as one), whose id is derived from its org and inventory name: the same host
collected again lands on the same row. The report goes through the ingest path itself (signature
verified against the auditor key, bounds, the auditor's policy, stored drill results merged, one
transaction), so an agentless report is judged and stored no differently from an agent's.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from rra.agent.identity import HostKey
from rra.auditor.drills.merge import StoredDrills
from rra.auditor.hostkeys import HostKeyCache, KnownHost
from rra.auditor.ingest import IngestRejected, accept, store
from rra.auditor.models import HostRow
from rra.auditor.settings import AuditorSettings
from rra.checks.canonical import canonical_json
from rra.checks.report import Report

# Fixed: host ids must stay stable across auditor versions and replicas.
AGENTLESS_NAMESPACE = uuid.UUID("5d1f0a3e-3c1b-4d8e-9a57-2f9c1b7e6a10")


def agentless_host_id(org: str, name: str) -> str:
    return str(uuid.uuid5(AGENTLESS_NAMESPACE, f"{org}/{name}"))


def ensure_host(engine: Engine, host_id: str, report: Report, now: datetime) -> bool:
    """Create or refresh the host row; False when the host was retired (nothing is stored)."""
    info = report.host
    with Session(engine) as session:
        row = session.get(HostRow, host_id)
        if row is None:
            row = HostRow(
                id=host_id,
                org=info.org,
                hostname=info.hostname,
                public_key=None,
                collection="agentless",
                enrolled_at=now,
            )
        elif row.retired_at is not None:
            return False
        row.hostname, row.machine_id = info.hostname, info.machine_id
        row.os_family, row.criticality, row.labels = info.os.family, info.criticality, info.labels
        session.add(row)
        session.commit()
    return True


def store_agentless(
    engine: Engine,
    key: HostKey,
    settings: AuditorSettings,
    name: str,
    report: Report,
    now: datetime | None = None,
) -> tuple[str, str]:
    """(host id, status): stored | duplicate | conflict | refused | retired | rejected: why."""
    now = now or datetime.now(UTC)
    host_id = agentless_host_id(report.host.org, name)
    if not ensure_host(engine, host_id, report, now):
        return host_id, "retired"
    payload = canonical_json(report)
    signer = KnownHost(host_id=host_id, public_key=key.public_key_b64, retired=False)
    try:
        accepted = accept(
            signer,
            host_id,
            payload,
            key.sign(payload),
            now,
            settings,
            StoredDrills.for_host(engine, host_id),
        )
        outcome = store(engine, HostKeyCache(), host_id, [accepted], settings, now)[0]
    except IngestRejected as error:
        return host_id, f"rejected: {error.detail}"
    result = outcome.result
    return host_id, result.status if result.error is None else f"{result.status}: {result.error}"
