"""System facts: hostname, fqdn, OS, machine-id, boot time — read through ``Host``."""

from __future__ import annotations

import shlex

from rra.agent.config import AgentConfig
from rra.agent.host import Host
from rra.checks.facts import HostInfo, OsInfo


def parse_os_release(text: str) -> dict[str, str]:
    """``/etc/os-release`` is shell-style KEY=value with optional quoting."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            continue  # an unbalanced quote: skip the line rather than guess
        values[key.strip()] = parts[0] if parts else ""
    return values


def _read_text(host: Host, path: str) -> str | None:
    try:
        data = host.read_file(path)
    except PermissionError:
        return None
    return data.decode("utf-8", "replace") if data is not None else None


def collect_host_info(host: Host, config: AgentConfig) -> HostInfo:
    identity = host.os_identity()
    if identity is not None:
        name, version, machine_id = identity
    else:
        release = parse_os_release(
            _read_text(host, "/etc/os-release") or _read_text(host, "/usr/lib/os-release") or ""
        )
        name = release.get("PRETTY_NAME") or release.get("NAME")
        version = release.get("VERSION_ID")
        machine_id = (_read_text(host, "/etc/machine-id") or "").strip() or None
    return HostInfo(
        hostname=host.hostname(),
        fqdn=host.fqdn(),
        os=OsInfo(
            family="windows" if host.os_family == "windows" else "linux", name=name, version=version
        ),
        boot_time=host.boot_time(),
        machine_id=machine_id,
        org=config.agent.org,
        criticality=config.agent.criticality,
        labels=dict(config.agent.labels),
    )
