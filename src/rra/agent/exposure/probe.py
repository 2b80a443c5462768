"""Active confirmation: a plain TCP connect from a vantage outside the bastions.

``open`` (the handshake completed), ``refused`` (a RST or ICMP port-unreachable: nothing
listens there, or a ``reject`` rule), ``filtered`` (no answer before the timeout, or ICMP
host/network unreachable or administratively prohibited, which Linux reports as EHOSTUNREACH),
``error`` (the probe itself could not be made: a bad address, a source address that is not
ours). The probe sends no payload and closes at once.
"""

from __future__ import annotations

import errno
import socket
from typing import Literal

from rra.agent.exposure.services import is_loopback
from rra.checks.facts import ServiceFact

ProbeResult = Literal["open", "refused", "filtered", "error"]
_FILTERED = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}


def probe_tcp(
    address: str, port: int, timeout: float = 2.0, source_address: str | None = None
) -> ProbeResult:
    """Connect once to ``address``:``port`` (optionally from ``source_address``)."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return "error"
    family, kind, proto, _, target = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout)
        try:
            if source_address is not None:
                sock.bind((source_address, 0))
        except OSError:
            return "error"
        try:
            sock.connect(target)
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "filtered"
        except OSError as exc:
            return "filtered" if exc.errno in _FILTERED else "error"
    return "open"


def apply_probe(fact: ServiceFact, result: ProbeResult, vantage: str | None = None) -> ServiceFact:
    """The fact refined by a probe from ``vantage`` (outside the bastions) to its port.

    inferred + open → confirmed; inferred/unknown + refused/filtered → restricted (for that
    vantage); unknown + open → confirmed; restricted + open → confirmed, saying the probe
    contradicts the rules. An ``error`` probe, or one to a loopback-only socket (which no other
    machine can reach), is recorded and decides nothing.
    """
    where = vantage or "the probe vantage"
    updated = fact.model_copy(update={"probe": result})
    if result == "error" or is_loopback(fact.address):
        return updated
    if result == "open":
        if fact.exposure == "restricted":
            reason = f"a probe from {where} connected although {fact.reason}: the probe contradicts the rules"
        elif fact.exposure == "confirmed":
            return updated
        else:
            reason = f"a probe from {where} connected; {fact.reason}"
        return updated.model_copy(update={"exposure": "confirmed", "reason": reason})
    if fact.exposure in ("inferred", "unknown"):
        reason = f"the probe from {where} was {result}; {fact.reason}"
        return updated.model_copy(update={"exposure": "restricted", "reason": reason})
    return updated
