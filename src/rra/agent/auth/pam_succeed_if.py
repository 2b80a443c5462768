"""``pam_succeed_if``: its conditions evaluated for U (see :mod:`rra.agent.auth.pam_eval`)."""

from __future__ import annotations

import fnmatch

from rra.agent.auth.pam_parse import AUTH_ERR, SERVICE_ERR, SUCCESS, PamLine
from rra.agent.auth.pam_types import Context, ModuleModel, Outcome

_SI_FLAGS = ("debug", "use_uid", "quiet", "quiet_fail", "quiet_success", "audit")


def model_succeed_if(line: PamLine, ctx: Context) -> ModuleModel:
    """``pam_succeed_if``: triples are ANDed; the first one not met decides the code."""
    use_uid = "use_uid" in line.args
    words = [a for a in line.args if a not in _SI_FLAGS]
    # Each branch: assumptions so far; a triple that depends on the client splits a branch.
    branches: list[frozenset[str]] = [frozenset()]
    ended: list[Outcome] = []
    for k in range(0, len(words) - len(words) % 3, 3):
        left, op, right = words[k : k + 3]
        results = _condition(ctx, use_uid, left, op, right)
        next_branches = []
        for why in branches:
            for code, extra in results:
                if code == SUCCESS:
                    next_branches.append(why | extra)
                else:
                    ended.append(Outcome(code, assumptions=why | extra))
        branches = next_branches
    final = SERVICE_ERR if len(words) % 3 else SUCCESS  # "incomplete condition detected"
    ended += [Outcome(final, assumptions=why) for why in branches]
    return ModuleModel(tuple(dict.fromkeys(ended)))


def _condition(
    ctx: Context, use_uid: bool, left: str, op: str, right: str
) -> list[tuple[int, frozenset[str]]]:
    acct = ctx.account
    name, uid, gid, home, groups = acct.name, acct.uid, acct.gid, acct.home, acct.groups
    shell = ctx.shell()
    if use_uid:  # the calling process: sshd (and pamtester) run PAM as root
        entry = ctx.passwd("root") or ["root", "x", "0", "0", "", "/root", "/bin/sh"]
        name, uid, gid, home, shell = entry[0], int(entry[2]), int(entry[3]), entry[5], entry[6]
        groups = ctx.groups_of(name, gid)
    attr = left.lower()
    values = {
        "login": name, "name": name, "user": name, "uid": str(uid), "gid": str(gid),
        "shell": shell, "home": home, "dir": home, "homedir": home, "service": ctx.service,
        "ruser": "", "tty": ctx.tty, "rhost": None,
    }  # fmt: skip
    if attr not in values:
        return [(SERVICE_ERR, frozenset())]
    q = op.lower()
    if q in ("ingroup", "notingroup"):
        # The group test is on the user (the remote user for "ruser"), whatever the attribute.
        member = attr != "ruser" and right in groups
        return [(SUCCESS if member == (q == "ingroup") else AUTH_ERR, frozenset())]
    if q in ("innetgr", "notinnetgr"):
        return [
            (SUCCESS, frozenset({f"netgroup {right} membership is unknown"})),
            (AUTH_ERR, frozenset()),
        ]
    value = values[attr]
    if value is None and attr in ("rhost", "tty"):
        return [(SUCCESS, frozenset()), (AUTH_ERR, frozenset())]  # the client decides
    if value is None:
        return [
            (SUCCESS, frozenset({f"the login shell of {name} is unknown"})),
            (AUTH_ERR, frozenset()),
        ]
    return [(_compare(value, q, right), frozenset())]


def _strtoll(text: str) -> int | None:
    """C ``strtoll(text, &end, 0)`` that must consume the whole string ("" is 0, as in C)."""
    body = text.lstrip(" \t\n\v\f\r")
    sign = -1 if body[:1] == "-" else 1
    rest = body[1:] if body[:1] in ("-", "+") else body
    if rest[:2].lower() == "0x" and rest[2:3] and rest[2] in "0123456789abcdefABCDEF":
        base, digits = 16, rest[2:]
    else:
        base, digits = (8 if rest[:1] == "0" else 10), rest
    if not digits:
        return 0 if not text else None  # no conversion: only an empty string is fully consumed
    try:
        number = sign * int(digits, base)
    except ValueError:
        return None
    return number if -(2**63) <= number < 2**63 else None


def _compare(value: str, op: str, right: str) -> int:
    numeric = {
        "<": "lt",
        "lt": "lt",
        "<=": "le",
        "le": "le",
        ">": "gt",
        "gt": "gt",
        ">=": "ge",
        "ge": "ge",
        "eq": "eq",
        "ne": "ne",
    }
    if op in numeric:
        a, b = _strtoll(value), _strtoll(right)
        if a is None or b is None:
            return SERVICE_ERR
        ok = {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b, "eq": a == b, "ne": a != b}[
            numeric[op]
        ]
    elif op in ("=", "!="):
        ok = (value == right) == (op == "=")
    elif op in ("=~", "glob", "!~", "noglob"):
        ok = fnmatch.fnmatchcase(value, right) == (op in ("=~", "glob"))
    elif op in ("in", "notin"):
        ok = _in_list(value, right) == (op == "in")
    else:
        return SERVICE_ERR
    return SUCCESS if ok else AUTH_ERR


def _in_list(left: str, right: str) -> bool:
    """``evaluate_inlist``: ``left`` between ``:`` separators (``left`` may itself hold ``:``)."""
    start = 0
    while (p := right.find(left, start)) != -1:
        end = p + len(left)
        if p == start or right[p - 1] == ":":
            if end == len(right) or right[end] == ":":
                return True
            p = end
        nxt = right.find(":", p)
        if nxt == -1:
            return False
        start = nxt + 1
    return False
