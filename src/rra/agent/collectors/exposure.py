"""Exposure pillar collector: admin sockets with their exposure, and direct-access sources.

Reads only through ``Host``. Sockets and established connections are live facts: a ``--root``
audit reports them unknown (with the reason) while login records (wtmp, auth.log) are read from
the image as from a live host.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address

from rra.agent.auth.sshd_config import SshdConfigError, load_sshd_config
from rra.agent.config import ExposureSection
from rra.agent.exposure.authlog import read_auth_logs
from rra.agent.exposure.eventlog import collect_eventlog
from rra.agent.exposure.firewall import read_firewall
from rra.agent.exposure.legacy import RFB_NONE, smb1_setting, vnc_security_types
from rra.agent.exposure.logins import Login, LogRead, aggregate, is_local, normalise_address
from rra.agent.exposure.services import classify, listens_everywhere
from rra.agent.exposure.ss import listening_sockets_via_ss
from rra.agent.exposure.sshd_restriction import sshd_restriction
from rra.agent.exposure.verdict import exposure_verdict
from rra.agent.exposure.wtmp import read_wtmp, rotated_wtmp
from rra.agent.host import Host, HostError, ListeningSocket
from rra.agent.local import LocalHost
from rra.checks.facts import AccessSourceFact, ExposureFact, ServiceFact

Networks = list[IPv4Network | IPv6Network]


@dataclass
class ExposureFacts:
    services: list[ServiceFact] | None = None
    access_sources: list[AccessSourceFact] | None = None
    exposure: ExposureFact | None = None
    unknown: dict[str, str] = field(default_factory=dict)


def _sockets(host: Host) -> tuple[list[ListeningSocket] | None, str | None]:
    try:
        return host.listening_sockets(), None
    except HostError as exc:
        if not host.live:
            return None, f"sockets are live facts; {exc}"
        try:
            return listening_sockets_via_ss(host), None
        except HostError as ss_exc:
            return None, f"listening sockets unreadable: {exc}; ss: {ss_exc}"


def _legacy_inside(host: Host, fact: ServiceFact) -> ServiceFact:
    """SMBv1 (smb.conf) and VNC without authentication (the RFB handshake) are legacy too."""
    if fact.service == "smb" and fact.proto == "tcp":
        setting = smb1_setting(host)
        if setting is not None:
            return fact.model_copy(
                update={"legacy": True, "reason": f"{fact.reason}; SMBv1 enabled by {setting}"}
            )
    # The RFB handshake connects from this process: only meaningful when the host is this machine
    # (over SSH/WinRM "127.0.0.1" would be the auditor itself).
    if fact.service == "vnc" and fact.proto == "tcp" and host.live and isinstance(host, LocalHost):
        # A wildcard listener answers on loopback too; ask it there.
        target = "127.0.0.1" if listens_everywhere(fact.address) else fact.address
        target = "::1" if fact.address == "::" else target
        types = vnc_security_types(target.split("%")[0], fact.port)
        if types is not None and RFB_NONE in types:
            return fact.model_copy(
                update={
                    "legacy": True,
                    "reason": f"{fact.reason}; VNC offers security type None (no password)",
                }
            )
    return fact


def _in(address: str, networks: Networks) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed.version == n.version and parsed in n for n in networks)


def _established(
    host: Host, admin_ports: dict[int, str], bastions: Networks, now: datetime
) -> list[AccessSourceFact]:
    try:
        connections = host.established_connections()
    except HostError:
        return []
    found: dict[str, AccessSourceFact] = {}
    for conn in connections:
        service = admin_ports.get(conn.local_port)
        if service is None or is_local(conn.remote_address) or _in(conn.remote_address, bastions):
            continue
        address = normalise_address(conn.remote_address)
        found[address] = AccessSourceFact(
            address=address, last_seen=now, logins=1, service=service, via="established"
        )
    return list(found.values())


def _merge(
    logged: list[AccessSourceFact], live: Iterable[AccessSourceFact]
) -> list[AccessSourceFact]:
    by_address = {s.address: s for s in logged}
    for source in live:
        known = by_address.get(source.address)
        if known is None:
            by_address[source.address] = source
        elif known.last_seen is None or (source.last_seen and source.last_seen > known.last_seen):
            by_address[source.address] = known.model_copy(update={"last_seen": source.last_seen})
    return sorted(by_address.values(), key=lambda s: s.address)


def collect_exposure(
    host: Host,
    config: ExposureSection,
    now: datetime,
    sshd_config: str = "/etc/ssh/sshd_config",
    windows: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ExposureFacts:
    say = progress or (lambda _message: None)
    facts = ExposureFacts()
    bastions: Networks = list(config.bastions)
    say("reading listening sockets and the host firewall")
    sockets, problem = _sockets(host)
    firewall = read_firewall(host)
    try:
        sshd = None if windows else load_sshd_config(host, sshd_config)
    except SshdConfigError:
        sshd = None
    services: list[ServiceFact] = []
    if sockets is None:
        facts.unknown["services"] = problem or "listening sockets unreadable"
    else:
        management = list(config.management_addresses)
        for sock in sockets:
            classification = classify(sock)
            restriction = (
                sshd_restriction(sshd, bastions, management, local_port=sock.port)
                if sshd is not None and classification.service == "ssh"
                else None
            )
            decision = firewall.decide(sock.proto, sock.port, bastions, address=sock.address)
            fact = exposure_verdict(
                sock, classification, decision, restriction, pid_known=sock.pid is not None
            )
            services.append(_legacy_inside(host, fact))
        facts.services = services
    say("reading login records")
    since = now - config.window
    # Streams, consumed once by aggregate(): a 384 MB wtmp never sits in memory. Each LogRead
    # is complete once its stream is exhausted.
    streams: list[Iterable[Login]] = []
    reads: list[LogRead] = []
    if windows:
        event_logins, event_read = collect_eventlog(host, since)
        streams.append(event_logins)
        reads.append(event_read)
    else:
        for path in rotated_wtmp(host):
            stream, read = read_wtmp(host, path, since=since)
            streams.append(stream)
            reads.append(read)
        auth_stream, auth_reads = read_auth_logs(host, since=since, now=now)
        streams.append(auth_stream)
        reads.extend(auth_reads)
    logged = aggregate(itertools.chain.from_iterable(streams), since=since, bastions=bastions)
    admin_ports = {s.port: s.service for s in services if s.admin and s.proto == "tcp"}
    live = _established(host, admin_ports, bastions, now) if host.live else []
    facts.access_sources = _merge(logged, live)
    facts.exposure = ExposureFact(
        firewall=firewall.fact,
        logs=[r.fact() for r in reads],
        window_days=config.window / timedelta(days=1),
        bastions=[str(n) for n in bastions],
    )
    return facts
