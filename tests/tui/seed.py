"""A small, varied fleet seeded into a real auditor through its real API: enrolled hosts, signed
reports (two each, a day apart, for the trend), signed drill results and one playbook."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rra.checks.facts import AccountFact
from tests.auditor.conftest import AuditorServer, EnrolledHost
from tests.auditor.drill_support import drill_result, playbook_yaml, post_result
from tests.auditor.fleet import enroll_host, send
from tests.auditor.reports import account, backup, make_report

PLAYBOOK = "finance-restore"


@dataclass(frozen=True)
class SeedHost:
    name: str
    org: str
    criticality: str
    backup_age_hours: float
    accounts: list[AccountFact]
    sources: list[str]


SEED_HOSTS = [
    SeedHost("ais-web-01", "mic/ais", "high", 2.0, [account("alice"), account("ops")], []),
    SeedHost(
        "ais-db-01", "mic/ais", "high", 72.0,
        [account("alice"), account("bob", "missing"), account("root", "missing", privileged=True)],
        ["198.51.100.7", "198.51.100.8"],
    ),
    SeedHost("hcm-app-01", "mic/hcm", "medium", 5.0, [account("carol"), account("dan", "missing")],
             ["203.0.113.5"]),
    SeedHost("hcm-app-02", "mic/hcm", "low", 30.0, [account("erin")], []),
    SeedHost("hn-fin-01", "prov/hanoi", "medium", 1.0, [account("fay", "missing")], ["192.0.2.9"]),
]  # fmt: skip


@dataclass
class SeededFleet:
    server: AuditorServer
    admin_token_file: Path
    inspector_token_file: Path  # scope "mic": sees mic/ais and mic/hcm, never prov/hanoi
    hosts: dict[str, EnrolledHost] = field(default_factory=dict)


def write_token(path: Path, token: str) -> Path:
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def seed_fleet(server: AuditorServer, directory: Path) -> SeededFleet:
    fleet = SeededFleet(
        server=server,
        admin_token_file=write_token(directory / "admin.token", server.admin_token),
        inspector_token_file=write_token(
            directory / "inspector.token", server.token("inspector", "mic", "tui inspector")
        ),
    )
    now = datetime.now(UTC)
    for seed in SEED_HOSTS:
        host = enroll_host(server, seed.org, hostname=seed.name, criticality=seed.criticality)
        fleet.hosts[seed.name] = host
        for seq, collected_at, age in (
            (1, now - timedelta(days=2), seed.backup_age_hours / 2),
            (2, now - timedelta(minutes=5), seed.backup_age_hours),
        ):
            report = make_report(
                org=seed.org,
                hostname=seed.name,
                machine_id=host.machine_id,
                seq=seq,
                collected_at=collected_at,
                backups=[backup(age_hours=age)],
                accounts=seed.accounts,
                sources=seed.sources,
                criticality=seed.criticality,
            )
            send(server, host, report)
    admin = server.client(server.admin_token)
    response = admin.post("/api/v1/playbooks", json={"yaml": playbook_yaml(PLAYBOOK), "org": "mic"})
    assert response.status_code == 201, response.text
    for name, verdict in (("ais-db-01", "pass"), ("hcm-app-01", "fail")):
        result = drill_result(
            playbook=PLAYBOOK, hostname=name, verdict=verdict, started_at=now - timedelta(hours=3)
        )
        answer = post_result(server, fleet.hosts[name], result)
        assert answer.status_code in (200, 201), answer.text
    return fleet
