"""The check plugin interface (Harlequin-style ABC, registered through the ``rra.checks`` entry points)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from rra.checks.facts import Facts
from rra.checks.policy import DEFAULT_POLICY, Policy
from rra.checks.report import Finding, Pillar, Severity, Status


@dataclass(frozen=True)
class CheckContext:
    """What a check may know besides the facts: the evaluation time and the policy."""

    now: datetime
    # A pydantic model is unhashable, so dataclasses reject it as a plain default.
    policy: Policy = field(default_factory=lambda: DEFAULT_POLICY)


@dataclass
class Outcome:
    status: Status
    evidence: dict[str, Any] = field(default_factory=dict)
    # A remediation specific to this outcome (naming the backup, the path...); else the check's.
    remediation: str | None = None


class Check(ABC):
    """One inspection rule over facts. Subclasses set the class attributes and ``evaluate``."""

    id: ClassVar[str]
    pillar: ClassVar[Pillar]
    severity: ClassVar[Severity]
    title: ClassVar[str]
    rationale: ClassVar[str]
    remediation: ClassVar[str]

    def applicable(self, facts: Facts, ctx: CheckContext) -> str | None:
        """Return a reason when the check does not apply to this host (→ ``not_applicable``)."""
        return None

    @abstractmethod
    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        """Decide pass/warn/fail/unknown with evidence. Never raise for missing facts: say unknown."""

    def run(self, facts: Facts, ctx: CheckContext) -> Finding:
        reason = self.applicable(facts, ctx)
        if reason is not None:
            outcome = Outcome("not_applicable", {"reason": reason})
        else:
            outcome = self.evaluate(facts, ctx)
        remediation = (
            ""
            if outcome.status in ("pass", "not_applicable")
            else (outcome.remediation or self.remediation)
        )
        return Finding(
            check=self.id,
            pillar=self.pillar,
            status=outcome.status,
            severity=self.severity,
            title=self.title,
            evidence=outcome.evidence,
            remediation=remediation,
        )
