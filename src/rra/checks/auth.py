"""Built-in authentication checks (DESIGN §3, §4), registered through ``rra.checks`` entry points.

The per-account verdicts (``enforced``/``missing``/``unknown``/``no_ssh`` with a reason) are made
by the collector; these checks judge them. Unknown is never rounded up to pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rra.checks.base import Check, CheckContext, Outcome
from rra.checks.facts import AccountFact, Facts
from rra.checks.report import Pillar

#: Evidence lists are capped so one host with thousands of accounts keeps a readable report.
EVIDENCE_LIMIT = 50
ENROLL = (
    "Require two factors for every remote login: in sshd_config set "
    "`AuthenticationMethods publickey,keyboard-interactive` (and KbdInteractiveAuthentication "
    "yes, UsePAM yes); in /etc/pam.d/sshd require pam_google_authenticator.so without nullok "
    "before pam_unix; enroll each user with `google-authenticator`. Check with "
    "`sshd -T -C user=NAME,host=h,addr=ADDR`."
)


def _not_collected(facts: Facts) -> Outcome | None:
    if facts.accounts is not None:
        return None
    reason = facts.unknown.get("accounts", "accounts were not collected on this host")
    return Outcome("unknown", {"reason": reason}, f"Let the agent read the accounts: {reason}.")


def _line(account: AccountFact) -> dict[str, Any]:
    return {"account": account.name, "ssh": account.ssh, "reason": account.reason}


def _coverage_outcome(accounts: Iterable[AccountFact], scope: str) -> Outcome | None:
    eligible = [a for a in accounts if a.interactive and a.ssh != "no_ssh"]
    if not eligible:
        return None
    enforced = [a for a in eligible if a.ssh == "enforced"]
    missing = [a for a in eligible if a.ssh == "missing"]
    unknown = [a for a in eligible if a.ssh == "unknown"]
    evidence: dict[str, Any] = {
        "scope": scope,
        "coverage": round(len(enforced) / len(eligible), 4),
        "accounts": len(eligible),
        "enforced": len(enforced),
        "missing": [_line(a) for a in sorted(missing, key=lambda a: a.name)[:EVIDENCE_LIMIT]],
        "unknown": [_line(a) for a in sorted(unknown, key=lambda a: a.name)[:EVIDENCE_LIMIT]],
    }
    if missing:
        fixes = [f"{a.name}: {a.reason}" for a in sorted(missing, key=lambda a: a.name)[:10]]
        more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
        return Outcome("fail", evidence, "; ".join(fixes) + more + ". " + ENROLL)
    if unknown:
        reasons = sorted({a.reason for a in unknown})[:3]
        return Outcome(
            "unknown",
            evidence,
            "Some accounts could not be judged: " + "; ".join(reasons) + ". Run the agent as root.",
        )
    return Outcome("pass", evidence)


class _AuthCheck(Check):
    pillar: ClassVar[Pillar] = "authentication"


class SshSecondFactor(_AuthCheck):
    id = "auth.ssh_second_factor"
    severity = "high"
    title = "Every account that can log in remotely needs a second factor"
    rationale = (
        "A stolen password or key is how most intrusions start; with a second factor on every "
        "remote login (CIS Controls v8 6.3-6.5) one stolen secret is not enough."
    )
    remediation = ENROLL

    def applicable(self, facts: Facts, ctx: CheckContext) -> str | None:
        if facts.accounts is None:
            return None
        if not any(a.interactive and a.ssh != "no_ssh" for a in facts.accounts):
            return "no interactive account can log in remotely"
        return None

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        missing = _not_collected(facts)
        if missing is not None:
            return missing
        outcome = _coverage_outcome(facts.accounts or [], "interactive accounts")
        return outcome or Outcome("pass", {"accounts": 0})


class PrivilegedSecondFactor(_AuthCheck):
    id = "auth.privileged_second_factor"
    severity = "critical"
    title = "Privileged accounts need a second factor"
    rationale = (
        "An administrator's single stolen credential hands an attacker the whole host, its "
        "backups' credentials included; privileged remote logins must need two factors."
    )
    remediation = ENROLL

    def applicable(self, facts: Facts, ctx: CheckContext) -> str | None:
        if facts.accounts is None:
            return None
        if not any(a.interactive and a.privileged and a.ssh != "no_ssh" for a in facts.accounts):
            return "no privileged account can log in remotely"
        return None

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        missing = _not_collected(facts)
        if missing is not None:
            return missing
        privileged = [a for a in facts.accounts or [] if a.privileged]
        outcome = _coverage_outcome(privileged, "privileged accounts")
        return outcome or Outcome("pass", {"accounts": 0})


class SkippableSecondFactor(_AuthCheck):
    id = "auth.skippable_second_factor"
    severity = "high"
    title = "No account can skip the second factor (nullok/nouserok while not enrolled)"
    rationale = (
        "With nullok (pam_google_authenticator) or nouserok (pam_u2f) a user who never enrolled "
        "logs in with one factor, and the log line looks exactly like a two-factor login."
    )
    remediation = (
        "Enroll every listed account (`google-authenticator` as that user, or pamu2fcfg), then "
        "remove nullok/nouserok from the module line in /etc/pam.d/sshd."
    )

    def applicable(self, facts: Facts, ctx: CheckContext) -> str | None:
        if facts.accounts is None:
            return None
        if not any(a.second_factor_modules for a in facts.accounts):
            return "no second-factor module is configured"
        return None

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        missing = _not_collected(facts)
        if missing is not None:
            return missing
        skipping = [
            a
            for a in facts.accounts or []
            if a.interactive and a.ssh != "no_ssh" and a.second_factor_skippable
        ]
        evidence = {
            "accounts": [
                {"account": a.name, "skips": a.second_factor_skippable}
                for a in sorted(skipping, key=lambda a: a.name)[:EVIDENCE_LIMIT]
            ],
            "count": len(skipping),
        }
        if skipping:
            names = ", ".join(a.name for a in skipping[:10])
            return Outcome(
                "fail",
                evidence,
                f"Enroll {names} (`google-authenticator` as each user), then remove "
                "nullok/nouserok from /etc/pam.d/sshd.",
            )
        return Outcome("pass", evidence)


class RootLogin(_AuthCheck):
    id = "auth.root_login"
    severity = "high"
    title = "root cannot log in over SSH with one factor"
    rationale = (
        "root is the same name on every host, so it is the first account guessed; a root login "
        "also leaves no trace of which person used it."
    )
    remediation = (
        "Set `PermitRootLogin no` in sshd_config (admins log in as themselves and use sudo), "
        "then `systemctl reload ssh`."
    )

    def applicable(self, facts: Facts, ctx: CheckContext) -> str | None:
        if facts.windows_auth is not None:
            return "Windows host: no root account"
        if facts.accounts is not None and facts.ssh is None:
            return "no OpenSSH server on this host"
        return None

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        missing = _not_collected(facts)
        if missing is not None:
            return missing
        permit = (facts.ssh.settings.get("permitrootlogin") if facts.ssh else None) or "unknown"
        roots = [a for a in facts.accounts or [] if a.uid == 0]
        evidence = {"permitrootlogin": permit, "accounts": [_line(a) for a in roots]}
        if any(a.interactive and a.ssh == "missing" for a in roots):
            if permit == "yes":
                return Outcome("fail", evidence)
            return Outcome(
                "warn",
                evidence,
                "root logs in with a key alone. Set `PermitRootLogin no`, or require two factors "
                "for it (`Match User root` + `AuthenticationMethods publickey,keyboard-interactive`).",
            )
        if any(a.interactive and a.ssh == "unknown" for a in roots):
            return Outcome("unknown", evidence)
        return Outcome("pass", evidence)


class SudoNopasswd(_AuthCheck):
    id = "auth.sudo_nopasswd"
    severity = "high"
    title = "sudo asks accounts to authenticate (no NOPASSWD / !authenticate)"
    rationale = (
        "sudo with NOPASSWD or !authenticate never runs PAM: whoever gets that account's session "
        "(a stolen key, an unlocked terminal) is root without another check."
    )
    remediation = (
        "Remove NOPASSWD and `Defaults !authenticate` for these accounts with `visudo` "
        "(keep it only for narrowly scoped service commands)."
    )

    def applicable(self, facts: Facts, ctx: CheckContext) -> str | None:
        if facts.windows_auth is not None:
            return "Windows host: no sudo"
        return None

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        missing = _not_collected(facts)
        if missing is not None:
            return missing
        interactive = [a for a in facts.accounts or [] if a.interactive]
        flagged = sorted((a for a in interactive if a.sudo_nopasswd), key=lambda a: a.name)
        evidence = {
            "accounts": [
                {"account": a.name, "privileged": a.privileged, "rules": a.sudo_nopasswd}
                for a in flagged[:EVIDENCE_LIMIT]
            ],
            "count": len(flagged),
        }
        if flagged:
            names = ", ".join(a.name for a in flagged[:10])
            rules = sorted({r for a in flagged for r in a.sudo_nopasswd or []})[:5]
            return Outcome(
                "fail",
                evidence,
                f"sudo runs without authentication for {names}: {'; '.join(rules)}. "
                + self.remediation,
            )
        if any(a.sudo_nopasswd is None for a in interactive):
            reason = facts.unknown.get("sudoers", "sudoers could not be read")
            evidence["reason"] = reason
            return Outcome("unknown", evidence, f"Let the agent read sudoers: {reason}.")
        return Outcome("pass", evidence)
