"""``rra auditor ...``: initialise, migrate and serve the central auditor; tokens, enrollment
tokens and hosts are managed in ``cli_admin``. Every admin action goes through ``rra.auditor.admin``
so it lands in the audit log. Exit codes: 0 ok, 2 usage or invalid input, 10 database unreachable."""

from __future__ import annotations

import copy
import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import func, select

from rra.auditor import admin
from rra.auditor.cli_admin import enroll_token_app, host_app, token_app, token_json
from rra.auditor.cli_collect import collect_command
from rra.auditor.cli_drill import drill_app, worker_command
from rra.auditor.cli_support import (
    EXIT_OPERATIONAL,
    CliOptions,
    database_errors,
    fail,
    is_loopback,
    options_from,
    out_console,
    print_json,
    ready_engine,
    render_config,
    require_head,
    warn,
)
from rra.auditor.db import make_engine, session_scope
from rra.auditor.migrate import current_revision, head_revision, upgrade_to_head
from rra.auditor.models import ApiToken
from rra.auditor.settings import AuditorSettings, data_dir_from_env
from rra.auditor.signing import auditor_key_path, load_or_create_auditor_key
from rra.auditor.tls import (
    TlsPaths,
    cert_fingerprint,
    certificate_names,
    check_server_names,
    default_server_names,
    init_tls,
)

app = typer.Typer(help="Run the central auditor.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(enroll_token_app, name="enroll-token")
app.add_typer(host_app, name="host")
app.add_typer(drill_app, name="drill")

APP_FACTORY = "rra.auditor.app:app_from_env"


@app.callback()
def auditor(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Auditor data directory. Default $RRA_AUDITOR_DATA_DIR or /var/lib/rra-auditor."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            envvar="RRA_AUDITOR_CONFIG", help="Config file. Default <data-dir>/auditor.toml."
        ),
    ] = None,
) -> None:
    """Run the central auditor: init, serve, migrate, tokens, enrollment tokens, hosts, drills."""
    ctx.obj = CliOptions(data_dir=data_dir_from_env(data_dir), config=config)


def _prepare_data_dir(options: CliOptions, database_url: str | None) -> None:
    try:
        options.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        options.data_dir.chmod(0o700)  # holds the CA key: nobody else may even list it
        config_path = options.config_path
        if config_path.exists():
            if database_url is not None:
                fail(f"{config_path} exists: set database_url there instead of --database-url")
            return
        config_path.write_text(render_config(database_url), encoding="utf-8")
    except PermissionError as exc:
        fail(f"{exc} (run as the auditor's user, or choose another --data-dir)")


def _token_count(settings: AuditorSettings) -> int:
    url = settings.resolved_database_url
    with database_errors(settings):
        if current_revision(url) is None:
            return 0
        engine = make_engine(url, pool_size=1)
        try:
            with session_scope(engine) as session:
                return session.exec(select(func.count()).select_from(ApiToken)).one()
        finally:
            engine.dispose()


def _ensure_certificates(tls_dir: Path, hostnames: list[str], addresses: list[str]) -> TlsPaths:
    paths = init_tls(tls_dir, hostnames=hostnames, ip_addresses=addresses)
    wanted = set(hostnames) | {str(ipaddress.ip_address(address)) for address in addresses}
    missing = wanted - certificate_names(paths.server_cert)
    if missing:
        # init never replaces certificates: agents may already trust this one.
        warn(f"kept the existing server certificate, which does not cover {', '.join(sorted(missing))}; "
             f"delete {paths.server_cert} and {paths.server_key.name} and run init again to reissue it")  # fmt: skip
    return paths


@app.command()
def init(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Database URL to write into auditor.toml. Default SQLite in the data dir."
        ),
    ] = None,
    hostname: Annotated[
        list[str] | None,
        typer.Option("--hostname", help="Extra DNS name for the server certificate (repeatable)."),
    ] = None,
    ip: Annotated[
        list[str] | None,
        typer.Option("--ip", help="Extra IP address for the server certificate (repeatable)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create the data dir, config, CA + server certificate, database schema and first admin token."""
    options = options_from(ctx)
    default_hostnames, default_addresses = default_server_names()
    hostnames = [*default_hostnames, *(hostname or [])]
    addresses = [*default_addresses, *(ip or [])]
    try:
        check_server_names(hostnames, addresses)
    except ValueError as exc:
        fail(f"server certificate: {exc}")
    if database_url is not None and not database_url.startswith(("sqlite:", "postgresql")):
        fail("--database-url: expected sqlite:///PATH or postgresql+psycopg://...")
    early = options.settings(config_may_be_missing=True)
    if options.data_dir.exists() and _token_count(early) > 0:
        fail(f"{options.data_dir} is already initialised (it has API tokens); "
             "create more with `rra auditor token create`")  # fmt: skip
    _prepare_data_dir(options, database_url)
    settings = options.settings()
    paths = _ensure_certificates(settings.tls_dir, hostnames, addresses)
    # Signs the drill results the worker produces for agentless hosts; kept if it exists.
    auditor_key = load_or_create_auditor_key(settings.data_dir)
    with database_errors(settings):
        upgrade_to_head(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url, pool_size=1)
        try:
            with session_scope(engine) as session:
                row, plaintext = admin.create_api_token(
                    session, role="admin", org_scope="", name="initial admin"
                )
        finally:
            engine.dispose()
    fingerprint = cert_fingerprint(paths.ca_cert)
    warn("the admin token below is shown once and never again: store it now")
    if json_output:
        print_json(
            {
                "data_dir": str(settings.data_dir),
                "config": str(options.config_path),
                "revision": head_revision(),
                "ca_cert": str(paths.ca_cert),
                "ca_fingerprint_sha256": fingerprint,
                "auditor_key": str(auditor_key_path(settings.data_dir)),
                "auditor_public_key": auditor_key.public_key_b64,
                "token": token_json(row) | {"token": plaintext},
            }
        )
        return
    out_console.print(f"initialised {settings.data_dir} (schema {head_revision()})", markup=False)
    out_console.print(f"admin token (role admin, org /): {plaintext}", markup=False)
    out_console.print(f"agents pin this CA: {paths.ca_cert}", markup=False)
    out_console.print(f"CA SHA-256 fingerprint: {fingerprint}", markup=False)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging, with access lines on stderr too: stdout is reserved for data."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address. Default [server] host.")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Listen port. Default [server] port.")
    ] = None,
    insecure_http: Annotated[
        bool, typer.Option("--insecure-http", help="Plain HTTP; only on a loopback address.")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the API (HTTPS with the data dir's certificate unless --insecure-http on loopback)."""
    options = options_from(ctx)
    settings = options.settings()
    listen_host = host or settings.server.host
    listen_port = port or settings.server.port
    if insecure_http and not is_loopback(listen_host):
        fail(f"--insecure-http is allowed only on a loopback address (127.0.0.1, ::1, localhost), "
             f"not {listen_host!r}: agents' reports and tokens would cross the network in clear")  # fmt: skip
    tls: dict[str, str] = {}
    if not insecure_http:
        for path in (settings.cert_path, settings.key_path):
            if not path.is_file():
                fail(f"no TLS file {path}: run `rra auditor init` first")
        tls = {"ssl_certfile": str(settings.cert_path), "ssl_keyfile": str(settings.key_path)}
    require_head(settings)
    # The app factory runs in each worker and reads its settings from these variables.
    os.environ["RRA_AUDITOR_DATA_DIR"] = str(settings.data_dir.resolve())
    if options.config is not None:
        os.environ["RRA_AUDITOR_CONFIG"] = str(options.config.resolve())
    from rra.auditor.serving import NoDelayConfig, run_uvicorn

    if insecure_http:
        warn("plain HTTP on a loopback address: for local testing or behind a TLS proxy only")
    config = NoDelayConfig(
        APP_FACTORY,
        factory=True,
        host=listen_host,
        port=listen_port,
        workers=workers,
        log_config=uvicorn_log_config(),
        server_header=False,
        **tls,  # type: ignore[arg-type]
    )
    if not run_uvicorn(config):
        raise typer.Exit(EXIT_OPERATIONAL)


@app.command()
def migrate(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Upgrade the database schema to this version of rra (safe to run again)."""
    settings = options_from(ctx).settings()
    url = settings.resolved_database_url
    with database_errors(settings):
        before = current_revision(url)
        upgrade_to_head(url)
        after = current_revision(url)
    if json_output:
        print_json({"from": before, "to": after})
        return
    if before == after:
        out_console.print(f"database already at revision {after}", markup=False)
    else:
        out_console.print(f"database migrated: {before or '(empty)'} → {after}", markup=False)


@app.command()
def rescore(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Re-evaluate every host's current state with the configured policy."""
    from rra.auditor.rescore import rescore_all

    settings = options_from(ctx).settings()
    engine = ready_engine(settings)
    try:
        with database_errors(settings), session_scope(engine) as session:
            count = rescore_all(session, settings)
    finally:
        engine.dispose()
    if json_output:
        print_json({"rescored": count, "policy_id": settings.policy_id})
        return
    out_console.print(f"re-evaluated {count} host state(s) under policy {settings.policy_id}")


# Registered last so `rra auditor --help` lists it after the server commands.
app.command("worker")(worker_command)
app.command("collect")(collect_command)
