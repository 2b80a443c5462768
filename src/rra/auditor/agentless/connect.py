"""From an inventory host to a connected ``Host`` and the collection settings it is audited with.

Secrets never live in the inventory: a password is read from the environment variable the
inventory names (``password_env``) at connect time, and only handed to the transport in memory.
"""

from __future__ import annotations

import os
from pathlib import Path

from rra.agent.config import AgentConfig, ConfigError, load_config
from rra.agent.host import Host, HostError
from rra.agent.local import LocalHost
from rra.auditor.agentless.inventory import InventoryHost


class AgentlessSetupError(Exception):
    """The inventory entry cannot be used as it is (missing password variable, bad agent config)."""


def collection_config(host: InventoryHost) -> AgentConfig:
    """The host's agent config (``agent_config``, else defaults) with the inventory's identity."""
    wanted = host.vars
    try:
        base = load_config(wanted.agent_config) if wanted.agent_config else AgentConfig()
    except ConfigError as exc:
        raise AgentlessSetupError(str(exc)) from None
    agent = base.agent.model_copy(
        update={
            "org": wanted.org or base.agent.org,
            "criticality": wanted.criticality,
            "labels": {**base.agent.labels, **wanted.labels},
        }
    )
    exposure = base.exposure
    if wanted.bastions:
        exposure = exposure.model_copy(update={"bastions": list(wanted.bastions)})
    return base.model_copy(update={"agent": agent, "exposure": exposure})


def _password(host: InventoryHost) -> str | None:
    name = host.vars.password_env
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise AgentlessSetupError(f"password_env {name} is not set in the auditor's environment")
    return value


def open_host(host: InventoryHost, *, known_hosts: Path, deadline: float | None) -> Host:
    """A transport for the host, connected (so an unreachable host fails here, not mid-way)."""
    wanted = host.vars
    if wanted.transport == "local":
        return LocalHost("/")
    password = _password(host)
    if wanted.transport == "winrm":
        from rra.agent.transports.winrm import WinRMHost

        if wanted.user is None or password is None:
            raise AgentlessSetupError("WinRM needs user and password_env")
        winrm = WinRMHost(
            wanted.address,
            wanted.port or 5986,
            wanted.user,
            password,
            auth=wanted.winrm_auth,
            scheme=wanted.winrm_scheme,
            ca_file=str(wanted.ca_file) if wanted.ca_file else None,
            cert_validation=wanted.cert_validation,
            connect_timeout=wanted.connect_timeout,
            deadline=deadline,
        )
        winrm.hostname()  # the first round trip: authentication and TLS are decided here
        return winrm
    from rra.agent.transports.ssh import SSHHost

    ssh = SSHHost(
        wanted.address,
        wanted.port or 22,
        wanted.user,
        key_file=wanted.key_file,
        allow_agent=wanted.key_file is None,
        password=password,
        known_hosts=wanted.known_hosts or known_hosts,
        host_key_policy=wanted.host_key_policy,
        become=wanted.become,
        connect_timeout=wanted.connect_timeout,
        deadline=deadline,
    )
    try:
        ssh.connect()
    except HostError:
        ssh.close()
        raise
    return ssh
