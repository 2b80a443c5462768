"""``rra auditor ...`` end to end through the root command (entry points), on real data dirs."""

from __future__ import annotations

import json
import stat
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from typer.testing import CliRunner, Result

from rra.agent import rootcli
from rra.auditor.db import make_engine, session_scope
from rra.auditor.migrate import head_revision
from rra.auditor.models import ApiToken, AuditEvent, EnrollToken, HostRow, utcnow
from rra.auditor.settings import AuditorSettings, load_settings
from rra.auditor.tls import init_tls
from rra.auditor.tokens import token_hash

EXIT_USAGE = 2
EXIT_OPERATIONAL = 10


def rra(data_dir: Path, *args: str, env: Mapping[str, str] | None = None) -> Result:
    argv = ["auditor", "--data-dir", str(data_dir), *args]
    return CliRunner().invoke(rootcli.root, argv, env=dict(env or {}))


def ok_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


class Initialised:
    def __init__(self, data_dir: Path, result: Result) -> None:
        self.data_dir = data_dir
        self.result = result
        self.document: dict[str, Any] = ok_json(result)
        self.engine: Engine = make_engine(f"sqlite:///{data_dir / 'auditor.db'}")

    def audit_actions(self, target: str) -> list[str]:
        with session_scope(self.engine) as session:
            query = (
                select(AuditEvent).where(AuditEvent.target == target).order_by(col(AuditEvent.id))
            )
            return [event.action for event in session.exec(query)]


@pytest.fixture(scope="module")
def auditor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Initialised]:
    data_dir = tmp_path_factory.mktemp("cli") / "auditor"
    initialised = Initialised(
        data_dir, rra(data_dir, "init", "--hostname", "audit.example", "--json")
    )
    yield initialised
    initialised.engine.dispose()


def test_init_creates_the_data_dir_and_prints_the_admin_token_once(auditor: Initialised) -> None:
    data_dir, document = auditor.data_dir, auditor.document
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in ("auditor.toml", "auditor.db", "tls/ca.pem", "tls/server.pem"):
        assert (data_dir / name).is_file(), name
    for key in ("tls/ca-key.pem", "tls/server-key.pem"):
        assert stat.S_IMODE((data_dir / key).stat().st_mode) == 0o600
    assert document["ca_cert"] == str(data_dir / "tls" / "ca.pem")
    assert document["revision"] == head_revision()
    plaintext = document["token"]["token"]
    assert plaintext.startswith("rra_api_")
    assert auditor.result.stdout.count(plaintext) == 1
    assert "shown once" in auditor.result.stderr
    assert document["token"]["role"] == "admin" and document["token"]["org"] == "/"
    with session_scope(auditor.engine) as session:
        stored = session.exec(select(ApiToken)).one()
    # Only the hash is stored, and the printed value is the one it hashes.
    assert stored.token_hash == token_hash(plaintext) and stored.org_scope == ""
    assert auditor.audit_actions(stored.id) == ["token.create"]


def test_init_writes_a_commented_config_that_loads_as_the_defaults(auditor: Initialised) -> None:
    text = (auditor.data_dir / "auditor.toml").read_text()
    assert "[server]" in text and "# port = 8443" in text
    settings = load_settings(auditor.data_dir)
    assert settings == AuditorSettings(data_dir=auditor.data_dir)


def test_second_init_refuses_and_creates_no_token(auditor: Initialised) -> None:
    result = rra(auditor.data_dir, "init")
    assert result.exit_code == EXIT_USAGE
    assert "already initialised" in result.stderr
    assert "rra_api_" not in result.stdout
    with session_scope(auditor.engine) as session:
        assert len(session.exec(select(ApiToken)).all()) == 1


def test_init_with_a_database_url_writes_it_to_the_config(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = rra(tmp_path / "data", "init", "--database-url", url, "--ip", "10.1.2.3", "--json")
    ok_json(result)
    assert load_settings(tmp_path / "data").database_url == url
    assert (tmp_path / "elsewhere.db").is_file()
    assert not (tmp_path / "data" / "auditor.db").exists()


def test_init_writes_the_config_given_with_config(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "auditor.toml"
    config.parent.mkdir()
    data_dir = tmp_path / "data"
    data_dir.mkdir()  # e.g. created by systemd's StateDirectory=
    ok_json(rra(data_dir, "--config", str(config), "init", "--json"))
    assert config.is_file() and not (data_dir / "auditor.toml").exists()
    listed = CliRunner().invoke(
        rootcli.root,
        ["auditor", "--data-dir", str(data_dir), "--config", str(config), "token", "list"],
    )
    assert listed.exit_code == 0, listed.output


def test_init_rejects_a_bad_certificate_name_before_writing_anything(tmp_path: Path) -> None:
    for args in (["--hostname", "bad name"], ["--ip", "10.0.0.300"]):
        result = rra(tmp_path / "data", "init", *args)
        assert result.exit_code == EXIT_USAGE and "server certificate" in result.stderr
        assert not (tmp_path / "data").exists()


def test_init_completes_a_half_initialised_dir_and_keeps_its_ca(tmp_path: Path) -> None:
    """An init that failed after writing the CA (say, PostgreSQL was down) can simply be rerun."""
    paths = init_tls(tmp_path / "tls", hostnames=["localhost"], ip_addresses=["127.0.0.1"])
    ca_before = paths.ca_cert.read_bytes()
    result = rra(tmp_path, "init", "--hostname", "late.example", "--json")
    ok_json(result)
    assert paths.ca_cert.read_bytes() == ca_before
    assert (
        "late.example" in result.stderr and "kept the existing server certificate" in result.stderr
    )


def test_token_create_list_revoke(auditor: Initialised) -> None:
    name = f"inspector-{uuid.uuid4().hex[:6]}"
    created = ok_json(
        rra(auditor.data_dir, "token", "create", "--role", "inspector", "--org", "mic/ais/",
            "--name", name, "--json")
    )  # fmt: skip
    assert created["org"] == "mic/ais" and created["role"] == "inspector"
    plaintext = created["token"]

    listed = rra(auditor.data_dir, "token", "list", "--json")
    tokens = {row["id"]: row for row in ok_json(listed)}
    assert tokens[created["id"]]["name"] == name and tokens[created["id"]]["revoked_at"] is None
    assert plaintext not in listed.stdout and token_hash(plaintext) not in listed.stdout
    assert all("token" not in row and "token_hash" not in row for row in tokens.values())

    table = rra(auditor.data_dir, "token", "list")
    assert table.exit_code == 0 and name in table.stdout and plaintext not in table.stdout

    revoked = rra(auditor.data_dir, "token", "revoke", created["id"])
    assert revoked.exit_code == 0, revoked.output
    tokens = {row["id"]: row for row in ok_json(rra(auditor.data_dir, "token", "list", "--json"))}
    assert tokens[created["id"]]["revoked_at"] is not None
    assert auditor.audit_actions(created["id"]) == ["token.create", "token.revoke"]


def test_agency_wide_token(auditor: Initialised) -> None:
    created = ok_json(
        rra(auditor.data_dir, "token", "create", "--role", "admin", "--org", "/", "--name", "ops",
            "--json")
    )  # fmt: skip
    assert created["org"] == "/"


@pytest.mark.parametrize("org", ["MIC", "mic//ais", "../mic", "mic ais"])
def test_invalid_org_is_a_usage_error(auditor: Initialised, org: str) -> None:
    result = rra(
        auditor.data_dir, "token", "create", "--role", "admin", "--org", org, "--name", "x"
    )
    assert result.exit_code == EXIT_USAGE
    assert "invalid org path" in result.stderr and "rra_api_" not in result.stdout


def test_revoking_an_unknown_token_is_a_usage_error(auditor: Initialised) -> None:
    result = rra(auditor.data_dir, "token", "revoke", str(uuid.uuid4()))
    assert result.exit_code == EXIT_USAGE and "no token" in result.stderr


def test_enroll_token_create_and_list(auditor: Initialised) -> None:
    created = ok_json(
        rra(auditor.data_dir, "enroll-token", "create", "--org", "mic/finance", "--expires", "2h",
            "--criticality", "high", "--label", "role=db", "--label", "site=hq", "--json")
    )  # fmt: skip
    assert created["token"].startswith("rra_enr_")
    assert created["labels"] == {"role": "db", "site": "hq"} and created["criticality"] == "high"
    expiring = ok_json(
        rra(auditor.data_dir, "enroll-token", "create", "--org", "mic", "--expires", "0.05s",
            "--json")
    )  # fmt: skip
    used = ok_json(rra(auditor.data_dir, "enroll-token", "create", "--org", "mic", "--json"))
    with session_scope(auditor.engine) as session:
        row = session.get(EnrollToken, used["id"])
        assert row is not None
        row.used_at = utcnow()
        session.add(row)
    time.sleep(0.1)

    listed = rra(auditor.data_dir, "enroll-token", "list", "--json")
    status = {row["id"]: row["status"] for row in ok_json(listed)}
    assert status[created["id"]] == "unused"
    assert status[expiring["id"]] == "expired"
    assert status[used["id"]] == "used"
    assert created["token"] not in listed.stdout
    assert auditor.audit_actions(created["id"]) == ["enroll_token.create"]
    table = rra(auditor.data_dir, "enroll-token", "list")
    assert table.exit_code == 0 and "expired" in table.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--org", "/"],
        ["--org", "Bad Org"],
        ["--org", "mic", "--expires", "soon"],
        ["--org", "mic", "--label", "no-equals-sign"],
        ["--org", "mic", "--criticality", "extreme"],
    ],
)
def test_enroll_token_rejects_bad_input(auditor: Initialised, args: list[str]) -> None:
    result = rra(auditor.data_dir, "enroll-token", "create", *args)
    assert result.exit_code == EXIT_USAGE, result.output
    assert "rra_enr_" not in result.stdout


def test_host_list_and_retire(auditor: Initialised) -> None:
    host_id = str(uuid.uuid4())
    with session_scope(auditor.engine) as session:
        session.add(
            HostRow(id=host_id, org="mic/ais", hostname="web-01", public_key=uuid.uuid4().hex,
                    enrolled_at=utcnow())
        )  # fmt: skip
    hosts = {row["id"]: row for row in ok_json(rra(auditor.data_dir, "host", "list", "--json"))}
    assert hosts[host_id]["hostname"] == "web-01" and hosts[host_id]["retired"] is False

    retired = rra(auditor.data_dir, "host", "retire", host_id)
    assert retired.exit_code == 0, retired.output
    hosts = {row["id"]: row for row in ok_json(rra(auditor.data_dir, "host", "list", "--json"))}
    assert hosts[host_id]["retired"] is True
    assert auditor.audit_actions(host_id) == ["host.retire"]
    table = rra(auditor.data_dir, "host", "list")
    assert table.exit_code == 0 and "web-01" in table.stdout

    unknown = rra(auditor.data_dir, "host", "retire", str(uuid.uuid4()))
    assert unknown.exit_code == EXIT_USAGE and "no host" in unknown.stderr


def test_migrate_reports_from_and_to(tmp_path: Path) -> None:
    first = ok_json(rra(tmp_path, "migrate", "--json"))
    assert first == {"from": None, "to": head_revision()}
    again = ok_json(rra(tmp_path, "migrate", "--json"))
    assert again == {"from": head_revision(), "to": head_revision()}


def test_serve_refuses_plain_http_off_loopback(auditor: Initialised) -> None:
    result = rra(auditor.data_dir, "serve", "--insecure-http", "--host", "0.0.0.0")
    assert result.exit_code == EXIT_USAGE and "loopback" in result.stderr


def test_serve_refuses_a_database_without_the_schema(tmp_path: Path) -> None:
    init_tls(tmp_path / "tls", hostnames=["localhost"], ip_addresses=["127.0.0.1"])
    result = rra(tmp_path, "serve", "--host", "127.0.0.1", "--port", "1")
    assert result.exit_code == EXIT_USAGE
    assert "rra auditor migrate" in result.stderr


def test_serve_refuses_to_start_without_a_certificate(tmp_path: Path) -> None:
    result = rra(tmp_path, "serve", "--host", "127.0.0.1")
    assert result.exit_code == EXIT_USAGE and "rra auditor init" in result.stderr


def test_an_unreachable_database_is_an_operational_error(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://rra:secret@/rra?host={tmp_path / 'no-such-socket-dir'}"
    result = rra(tmp_path, "token", "list", env={"RRA_AUDITOR_DATABASE_URL": url})
    assert result.exit_code == EXIT_OPERATIONAL
    assert "database unreachable" in result.stderr and "secret" not in result.stderr


def test_a_broken_config_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "auditor.toml").write_text("[server]\nport = 'many'\n")
    result = rra(tmp_path, "token", "list")
    assert result.exit_code == EXIT_USAGE and "invalid configuration" in result.stderr


def test_rescore_counts_re_evaluated_host_states(auditor: Initialised) -> None:
    document = ok_json(rra(auditor.data_dir, "rescore", "--json"))
    assert document["rescored"] == 0  # no host has reported yet: nothing to re-evaluate
    assert document["policy_id"] == AuditorSettings().policy_id
