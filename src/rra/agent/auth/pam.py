"""The PAM ``auth`` stack of a service, and every way it can let one account in (DESIGN §3).

``load_pam_stack`` resolves the stack as libpam 1.5.2 does (``pam_parse``); ``evaluate_pam``
walks libpam's dispatch state machine (``_pam_dispatch_aux``: impression, status, ``ok`` that
cannot overwrite a failure, ``done``/``die`` that end only the current substack, ``reset`` to the
state at substack entry, jumps counted in lines of the same substack, a jump past the end is a
failure, and a stack that ends without a success status fails) over every return code each module
can give for the account (``pam_eval``). Work is memoised on (line, machine state), so a 40-line
stack costs a few hundred steps, not 2^40.

Verified against real Linux-PAM with pamtester (``tests/agent/auth/test_pam_oracle.py``); see the
docstrings of ``pam_parse`` and ``pam_eval`` for the behaviours that differ from the obvious
reading of the manual (``-`` does not skip a missing module under ``required``; nullok returns
PAM_IGNORE; a missing ``@include`` breaks the whole service; include loops crash libpam).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from rra.agent.auth.pam_eval import (
    CRASH,
    SECOND_FACTOR,
    UNMODELLED,
    Context,
    ModuleModel,
    Outcome,
    PamAccount,
    model_module,
)
from rra.agent.auth.pam_parse import (
    A_BAD,
    A_DIE,
    A_DONE,
    A_IGNORE,
    A_OK,
    A_RESET,
    IGNORE,
    PERM_DENIED,
    SUCCESS,
    PamLine,
    load_config,
)
from rra.agent.host import Host

__all__ = [
    "PamAccount",
    "PamLine",
    "PamOutcome",
    "PamPath",
    "PamStack",
    "evaluate_pam",
    "load_pam_stack",
]

UNDEF, POSITIVE, NEGATIVE = 0, 1, -1  # libpam's "impression"


@dataclass(frozen=True)
class PamPath:
    authenticators: frozenset[str]  # subset of {"password", "otp", "server:<module>"}
    assumptions: tuple[str, ...]  # unknown facts this way in depends on


@dataclass(frozen=True)
class PamStack:
    service: str
    lines: list[PamLine]  # auth handlers in dispatch order; ``level`` keeps substack structure
    errors: list[str]  # missing files, include loops, unparseable lines (with file:line)
    source: str | None = None  # the file the auth lines come from (service file or other)
    failure: str | None = None  # pam_start fails: the service lets nobody in
    unknown: str | None = None  # the configuration could not be read completely

    def describe(self) -> list[str]:
        """One line per handler, e.g. ``auth required pam_unix.so nullok (/etc/pam.d/sshd:5)``."""
        out = []
        for line in self.lines:
            text = line.text
            if line.kind == "fail":
                text = f"{text} [always fails: {line.note}]"
            elif line.installed is False:
                text = f"{text} [module not installed]"
            out.append(f"{'  ' * line.level}{text} ({line.location})")
        return out

    @property
    def second_factor_modules(self) -> list[str]:
        names = (line.name for line in self.lines if line.kind == "module")
        return list(dict.fromkeys(n for n in names if n in SECOND_FACTOR))


@dataclass(frozen=True)
class PamOutcome:
    paths: tuple[PamPath, ...]  # minimal ways to success
    modules: list[str]  # second-factor modules reached on the stack
    enrolled: bool | None  # U enrolled in every one of them (None: unknown / none reached)
    skippable: list[str]  # e.g. "pam_google_authenticator (nullok, not enrolled)"
    unknown_reason: str | None  # the stack as a whole cannot be judged


def load_pam_stack(
    host: Host,
    service: str = "sshd",
    pam_dir: str = "/etc/pam.d",
    *,
    vendor_dir: str | None = "/usr/lib/pam.d",
) -> PamStack:
    """Resolve ``service``'s auth stack through ``host`` (falls back to ``other`` like libpam)."""
    parsed = load_config(host, service, pam_dir, vendor_dir)
    return PamStack(
        service, parsed.lines, parsed.errors, parsed.source, parsed.failure, parsed.unknown
    )


Found = frozenset[tuple[frozenset[str], frozenset[str]]]  # (authenticators, assumptions)
State = tuple[int, int, int, tuple[tuple[int, int], ...]]  # line, impression, status, saved


def _minimal(found: set[tuple[frozenset[str], frozenset[str]]]) -> Found:
    """Drop a way in whose authenticators and assumptions both contain another's."""
    return frozenset(
        (a, s)
        for a, s in found
        if not any((b, t) != (a, s) and b <= a and t <= s for b, t in found)
    )


@dataclass
class _Machine:
    """``_pam_dispatch_aux`` over all module outcomes, memoised on the machine state."""

    lines: list[PamLine]
    models: list[ModuleModel | None]
    reached: set[int] = field(default_factory=set)
    memo: dict[State, Found] = field(default_factory=dict)

    def run(self) -> Found:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 4 * len(self.lines) + 200))
        try:
            return self.step(0, 0, UNDEF, PERM_DENIED, ((UNDEF, PERM_DENIED),))
        finally:
            sys.setrecursionlimit(limit)

    def _skip_unit(self, idx: int) -> int:
        """Last index of the line at ``idx`` together with any substack lines nested in it."""
        level = self.lines[idx].level
        while idx + 1 < len(self.lines) and self.lines[idx + 1].level > level:
            idx += 1
        return idx

    def step(
        self, idx: int, prev: int, imp: int, status: int, subs: tuple[tuple[int, int], ...]
    ) -> Found:
        lines = self.lines
        if idx >= len(lines):
            # libpam's sanity check: a success status without a positive impression fails.
            done = status == SUCCESS and imp == POSITIVE
            return frozenset({(frozenset(), frozenset())}) if done else frozenset()
        line = lines[idx]
        level = line.level
        if prev < level:  # entering a substack: remember the state for "reset"
            subs = (*subs[:level], (imp, status))
        key: State = (idx, imp, status, subs[: level + 1])
        if key in self.memo:
            return self.memo[key]
        if line.kind == "substack":
            result = self.step(idx + 1, level, imp, status, subs)
            self.memo[key] = result
            return result
        model = self.models[idx]
        outcomes = model.outcomes if model else (Outcome(PERM_DENIED),)
        self.reached.add(idx)
        found: set[tuple[frozenset[str], frozenset[str]]] = set()
        for outcome in outcomes:
            if outcome.code == CRASH:
                continue
            nxt, n_imp, n_status = self._apply(
                idx, line.actions[outcome.code], outcome.code, imp, status, subs[level]
            )
            for auths, why in self.step(nxt, level, n_imp, n_status, subs):
                found.add((auths | outcome.authenticators, why | outcome.assumptions))
        result = _minimal(found)
        self.memo[key] = result
        return result

    def _apply(
        self, idx: int, action: int, code: int, imp: int, status: int, saved: tuple[int, int]
    ) -> tuple[int, int, int]:
        """One ``switch (action)`` of libpam: (next line, impression, status)."""
        level, decided = self.lines[idx].level, False
        if action == A_RESET:
            imp, status = saved
        elif action in (A_OK, A_DONE):
            if imp == UNDEF or (imp == POSITIVE and status == SUCCESS):
                imp, status = POSITIVE, code
            decided = imp == POSITIVE and action == A_DONE
        elif action in (A_BAD, A_DIE):
            if imp != NEGATIVE:
                imp, status = NEGATIVE, (PERM_DENIED if code == IGNORE else code)
            decided = action == A_DIE
        elif action > A_IGNORE:  # jump over ``action`` lines of this substack
            j, left = idx, action
            while j + 1 < len(self.lines) and self.lines[j + 1].level >= level and left > 0:
                j, left = self._skip_unit(j + 1), left - 1
            if left:
                imp, status = NEGATIVE, PERM_DENIED  # "bad jump in stack"
            return j + 1, imp, status
        if decided:  # the rest of this substack (or of the whole stack) is skipped
            j = idx
            while j + 1 < len(self.lines) and self.lines[j + 1].level >= level:
                j += 1
            return j + 1, imp, status
        return idx + 1, imp, status


def evaluate_pam(stack: PamStack, account: PamAccount, host: Host) -> PamOutcome:
    """Every minimal way ``stack`` returns success for ``account``, and what it asked of U."""
    if stack.failure is not None or not stack.lines:
        return PamOutcome((), [], None, [], stack.unknown)
    ctx = Context(host, account, stack.service)
    models = [model_module(line, ctx) if line.kind == "module" else None for line in stack.lines]
    machine = _Machine(stack.lines, models)
    found = machine.run()
    paths = tuple(
        PamPath(auths, tuple(sorted(why)))
        for auths, why in sorted(found, key=lambda p: (len(p[0]), sorted(p[0]), sorted(p[1])))
    )
    second = [i for i in sorted(machine.reached) if stack.lines[i].name in SECOND_FACTOR]
    modules = list(dict.fromkeys(stack.lines[i].name for i in second))
    states = [m.enrolled for i in second if (m := models[i]) is not None]
    enrolled = None if not states or None in states else all(states)
    skippable = _skippable(stack.lines, models, second, paths)
    unknown = stack.unknown
    if unknown is None:
        unmodelled = sorted({a for p in paths for a in p.assumptions if UNMODELLED in a})
        unknown = unmodelled[0] if unmodelled else None
    return PamOutcome(paths, modules, enrolled, skippable, unknown)


def _skippable(
    lines: list[PamLine],
    models: list[ModuleModel | None],
    second: list[int],
    paths: tuple[PamPath, ...],
) -> list[str]:
    """Second-factor modules U can get past without presenting their factor, and why."""
    out: dict[str, str] = {}
    for i in second:
        model, line = models[i], lines[i]
        if model is None or model.skip is None or model.skip_code is None:
            continue
        action = line.actions[model.skip_code]
        if (
            action == A_IGNORE
            or action > 0
            or (model.skip_code == SUCCESS and action in (A_OK, A_DONE))
        ):
            out.setdefault(line.name, f"{line.name} ({model.skip})")
    if any("otp" not in p.authenticators for p in paths):
        for i in second:
            out.setdefault(lines[i].name, f"{lines[i].name} (not required on every way in)")
    return list(out.values())
