"""One socket's exposure (DESIGN §3), before any active probe; :mod:`probe` may refine it.

In order, the first that holds decides:

1. listens on loopback only (127/8, ::1, ``::ffff:127.x``, or bound to ``lo``) → ``restricted``;
2. the service keeps non-bastion sources out itself (sshd, :mod:`sshd_restriction`) →
   ``restricted``;
3. the host firewall drops every non-bastion source → ``restricted``;
4. the firewall could not be read or evaluated (missing privileges, almost always; also
   unparseable output or a rule on the path that cannot be evaluated) → ``unknown``: nothing
   we saw restricts it, but we could not see enough to say it is exposed;
5. otherwise (the firewall accepts a non-bastion source, or there is none) → ``inferred``.

Without privileges the owning process is not visible either (``pid_known`` false) and the
service was named by its port; that is said in the reason, because a port-only name can be
wrong, but it changes no verdict: without privileges step 4 already answers ``unknown``.
"""

from __future__ import annotations

from rra.agent.exposure.firewall import FirewallDecision
from rra.agent.exposure.services import Classification, classified_by_port_only, is_loopback
from rra.agent.exposure.sshd_restriction import ServiceRestriction
from rra.agent.host import ListeningSocket
from rra.checks.facts import Exposure, ServiceFact


def _fact(
    socket: ListeningSocket, classification: Classification, exposure: Exposure, reason: str
) -> ServiceFact:
    return ServiceFact(
        proto=socket.proto,
        address=socket.address,
        port=socket.port,
        process=socket.process,
        pid=socket.pid,
        service=classification.service,
        admin=classification.admin,
        legacy=classification.legacy,
        exposure=exposure,
        reason=reason,
    )


def exposure_verdict(
    socket: ListeningSocket,
    classification: Classification,
    firewall_decision: FirewallDecision | None,
    service_restriction: ServiceRestriction | None,
    pid_known: bool,
) -> ServiceFact:
    """The exposure of one listening socket and the rule or setting that decided it."""
    if is_loopback(socket.address):
        return _fact(
            socket, classification, "restricted", f"listens on loopback only ({socket.address})"
        )
    if service_restriction is not None and service_restriction.restricted:
        return _fact(socket, classification, "restricted", service_restriction.evidence)
    if firewall_decision is not None and firewall_decision.decision == "restricted":
        return _fact(
            socket, classification, "restricted", f"host firewall: {firewall_decision.evidence}"
        )
    notes: list[str] = []
    if service_restriction is not None:
        notes.append(f"service: {service_restriction.evidence}")
    if not pid_known and classified_by_port_only(socket):
        notes.append(f"owning process not visible; named {classification.service} by its port")
    tail = "".join(f"; {n}" for n in notes)
    if firewall_decision is None:
        return _fact(socket, classification, "unknown", f"host firewall not read{tail}")
    if firewall_decision.decision == "unknown":
        return _fact(
            socket,
            classification,
            "unknown",
            f"cannot tell whether the host firewall restricts it: {firewall_decision.evidence}{tail}",
        )
    return _fact(
        socket,
        classification,
        "inferred",
        f"nothing restricts sources; host firewall: {firewall_decision.evidence}{tail}",
    )
