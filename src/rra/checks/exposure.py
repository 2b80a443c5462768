"""Built-in exposure checks (DESIGN §3, §4), registered through ``rra.checks`` entry points.

The agency's directive: fewer machines with direct system access. These checks judge the
collector's facts: admin sockets and their exposure verdicts, the source machines that logged in
directly, legacy clear-text protocols and the host firewall. Unknown is never rounded up.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rra.checks.base import Check, CheckContext, Outcome
from rra.checks.facts import Facts, ServiceFact
from rra.checks.metrics import EXPOSED
from rra.checks.report import Pillar

EVIDENCE_LIMIT = 50


def _service(s: ServiceFact) -> dict[str, Any]:
    return {
        "service": s.service,
        "proto": s.proto,
        "address": s.address,
        "port": s.port,
        "process": s.process,
        "exposure": s.exposure,
        "reason": s.reason,
    }


def _where(s: ServiceFact) -> str:
    return f"{s.service} on {s.address}:{s.port}/{s.proto}"


class _ExposureCheck(Check):
    pillar: ClassVar[Pillar] = "exposure"


def _services_not_collected(facts: Facts) -> Outcome | None:
    if facts.services is not None:
        return None
    reason = facts.unknown.get("services", "listening sockets were not collected on this host")
    return Outcome("unknown", {"reason": reason}, f"Let the agent read the sockets: {reason}.")


class AdminServices(_ExposureCheck):
    id = "exposure.admin_services"
    severity = "high"
    title = "Admin services are reachable only from the approved bastions"
    rationale = (
        "Every admin service open to the whole network (SSH, RDP, WinRM, SMB, VNC...) is a door "
        "an attacker inside the network can try; the agency's directive is that only the "
        "approved bastions reach them."
    )
    remediation = (
        "Restrict each listed service to the bastions: a host firewall rule that accepts the port "
        "only from the bastion addresses (nftables: `tcp dport 22 ip saddr { BASTIONS } accept` "
        "with policy drop), or bind it to a management address (sshd ListenAddress)."
    )

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        missing = _services_not_collected(facts)
        if missing is not None:
            return missing
        admin = [s for s in facts.services or [] if s.admin]
        exposed = [s for s in admin if s.exposure in EXPOSED]
        unknown = [s for s in admin if s.exposure == "unknown"]
        evidence = {
            "admin_services": len(admin),
            "exposed": [_service(s) for s in exposed[:EVIDENCE_LIMIT]],
            "unknown": [_service(s) for s in unknown[:EVIDENCE_LIMIT]],
            "restricted": [_service(s) for s in admin if s.exposure == "restricted"][
                :EVIDENCE_LIMIT
            ],
        }
        if exposed:
            names = "; ".join(f"{_where(s)} ({s.reason})" for s in exposed[:10])
            return Outcome(
                "fail", evidence, f"Exposed beyond the bastions: {names}. " + self.remediation
            )
        if unknown:
            reasons = sorted({s.reason for s in unknown})[:3]
            return Outcome(
                "unknown",
                evidence,
                "Exposure could not be decided: " + "; ".join(reasons) + ". Run the agent as root.",
            )
        return Outcome("pass", evidence)


class DirectAccessSources(_ExposureCheck):
    id = "exposure.direct_access_sources"
    severity = "high"
    title = "Only the bastions log in directly"
    rationale = (
        "Each machine that logs in directly to an admin service is a machine whose compromise "
        "reaches this host; the agency counts them and drives the number to zero except bastions."
    )
    remediation = (
        "Make admins connect through the bastions (ProxyJump / an RDP gateway), then close the "
        "admin ports to everyone else; list the approved bastions in [exposure] bastions."
    )

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        if facts.access_sources is None:
            reason = facts.unknown.get("access_sources", "login records were not collected")
            return Outcome(
                "unknown", {"reason": reason}, f"Let the agent read the logins: {reason}."
            )
        sources = sorted(facts.access_sources, key=lambda s: s.last_seen or ctx.now, reverse=True)
        distinct = sorted({s.address for s in sources})
        evidence: dict[str, Any] = {
            "machine_count": len(distinct),
            "sources": [
                {
                    "address": s.address,
                    "last_seen": s.last_seen.isoformat() if s.last_seen else None,
                    "logins": s.logins,
                    "service": s.service,
                    "via": s.via,
                    "users": s.users,
                }
                for s in sources[:EVIDENCE_LIMIT]
            ],
        }
        if facts.exposure is not None:
            evidence["window_days"] = facts.exposure.window_days
            evidence["bastions"] = facts.exposure.bastions
            failed = [log for log in facts.exposure.logs if log.error]
            evidence["unread_logs"] = [f"{log.path}: {log.error}" for log in failed]
        if distinct:
            shown = ", ".join(distinct[:10]) + (
                f" (+{len(distinct) - 10})" if len(distinct) > 10 else ""
            )
            return Outcome(
                "fail",
                evidence,
                f"{len(distinct)} machine(s) logged in directly: {shown}. " + self.remediation,
            )
        if evidence.get("unread_logs"):
            return Outcome(
                "unknown",
                evidence,
                "No direct login seen, but some login records could not be read: "
                + "; ".join(evidence["unread_logs"][:3]),
            )
        return Outcome("pass", evidence)


class LegacyProtocols(_ExposureCheck):
    id = "exposure.legacy_protocols"
    severity = "critical"
    title = "No legacy clear-text or unauthenticated admin protocol listens"
    rationale = (
        "telnet and rsh/rlogin send passwords in clear, VNC without authentication and SMBv1 "
        "let anyone in or spread worms: one captured password or one worm is a full compromise."
    )
    remediation = (
        "Remove the legacy service (`apt purge telnetd rsh-server`), require VNC authentication, "
        "disable SMBv1 (`server min protocol = SMB2` in smb.conf)."
    )

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        missing = _services_not_collected(facts)
        if missing is not None:
            return missing
        legacy = [s for s in facts.services or [] if s.legacy]
        evidence = {"legacy": [_service(s) for s in legacy[:EVIDENCE_LIMIT]]}
        if legacy:
            names = "; ".join(f"{_where(s)}: {s.reason}" for s in legacy[:10])
            return Outcome(
                "fail", evidence, f"Legacy admin protocols: {names}. " + self.remediation
            )
        return Outcome("pass", evidence)


class HostFirewall(_ExposureCheck):
    id = "exposure.host_firewall"
    severity = "medium"
    title = "A host firewall drops unsolicited inbound traffic"
    rationale = (
        "A default-drop host firewall keeps a new or forgotten service from being reachable "
        "and is what limits admin ports to the bastions."
    )
    remediation = (
        "Enable a host firewall with an inbound default of drop (nftables `policy drop` on the "
        "input hook, or `ufw default deny incoming && ufw enable`) and allow admin ports from the "
        "bastions only."
    )

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        firewall = facts.exposure.firewall if facts.exposure is not None else None
        if firewall is None or firewall.active is None:
            reason = (firewall.reason if firewall else "") or facts.unknown.get(
                "firewall", "the firewall was not read"
            )
            return Outcome(
                "unknown", {"reason": reason}, f"Let the agent read the firewall: {reason}."
            )
        evidence = firewall.model_dump(mode="json")
        if not firewall.active:
            return Outcome("fail", evidence)
        if firewall.default_inbound in ("drop", "reject"):
            return Outcome("pass", evidence)
        return Outcome(
            "warn",
            evidence,
            f"The {firewall.tool} firewall accepts inbound traffic by default "
            f"({firewall.reason}); set the inbound default to drop. " + self.remediation,
        )
