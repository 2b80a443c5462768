"""Benchmark: the authentication collector at scale (issue 3's performance target).

A synthetic host tree: 2,000 accounts (passwd/shadow/group, a quarter with authorized_keys and a
quarter enrolled in pam_google_authenticator), a 300-line sshd_config with 50 Match blocks
(User, Group and Address criteria), a 40-line PAM auth stack. Two paths are timed:

* **parser**: ``collect_auth`` on the tree as a ``--root`` audit (rra's own sshd_config parser);
* **live**: the same tree, but effective settings from the real ``sshd -T -C`` (the tree's
  sshd_config passed with ``-f``), one call per (user class × source scenario) — the
  equivalence classes are what keep this path fast.

Baseline (same process): the naive live cost, one ``sshd -T -C`` per account per scenario,
estimated from the measured time of one call. Results are ratios against that baseline.

    .venv/bin/python bench/auth.py [--accounts 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from rra.agent.auth.sshd_config import load_sshd_config
from rra.agent.auth.sshd_effective import build_scenarios, user_class
from rra.agent.collectors.auth import collect_auth
from rra.agent.host import RunResult
from rra.agent.local import LocalHost

HASH = "$y$j9T$abcdefghijklmnopqrstuv$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq6cWdGFW0Kqf3hBk0pZx0yKpQ5XfLj1b8Zc1n4cH0c u@h"
MODULES = "/lib/x86_64-linux-gnu/security"


def build_tree(root: Path, accounts: int, seed: int = 7) -> None:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    groups = [f"team{i:02d}" for i in range(20)]
    passwd = ["root:x:0:0:root:/root:/bin/bash"]
    shadow = [f"root:{HASH}:19000:0:99999:7:::"]
    members: dict[str, list[str]] = {g: [] for g in [*groups, "sudo"]}
    for index in range(accounts):
        name = f"user{index:05d}"
        uid = 2000 + index
        shell = "/usr/sbin/nologin" if index % 10 == 0 else "/bin/bash"
        passwd.append(f"{name}:x:{uid}:{uid}::/home/{name}:{shell}")
        shadow.append(f"{name}:{'!' if index % 7 == 0 else HASH}:19000:0:99999:7:::")
        members[rng.choice(groups)].append(name)
        if index % 25 == 0:
            members["sudo"].append(name)
        home = root / "home" / name
        if index % 4 == 0:
            (home / ".ssh").mkdir(parents=True)
            (home / ".ssh/authorized_keys").write_text(KEY + "\n")
        if index % 4 == 1:
            home.mkdir(parents=True, exist_ok=True)
            (home / ".google_authenticator").write_text('JBSWY3DPEHPK3PXP\n" TOTP_AUTH\n')
    group_lines = ["root:x:0:"] + [
        f"{g}:x:{3000 + i}:{','.join(m)}" for i, (g, m) in enumerate(members.items())
    ]
    etc = root / "etc"
    (etc / "ssh").mkdir(parents=True)
    (etc / "pam.d").mkdir(parents=True)
    (etc / "passwd").write_text("\n".join(passwd) + "\n")
    (etc / "shadow").write_text("\n".join(shadow) + "\n")
    (etc / "group").write_text("\n".join(group_lines) + "\n")
    lines = [
        "# synthetic sshd_config: 300 lines, 50 Match blocks",
        "UsePAM yes",
        "KbdInteractiveAuthentication yes",
        "PasswordAuthentication no",
        "AuthenticationMethods publickey,keyboard-interactive",
    ]
    for block in range(50):
        kind = block % 3
        if kind == 0:
            lines.append(f"Match User user{block:03d}*,!user{block:03d}9")
        elif kind == 1:
            lines.append(f"Match Group {groups[block % len(groups)]}")
        else:
            lines.append(f"Match Address 10.{block}.0.0/16,!10.{block}.9.0/24")
        lines += [
            "  X11Forwarding no",
            "  AllowTcpForwarding no",
            "  PermitTTY yes",
            f"  MaxSessions {block % 9 + 1}",
        ]
        # Three blocks in four also set something rra judges (the rest only X11/forwarding/TTY).
        if block % 4 != 3:
            lines.append(
                (
                    "  AuthenticationMethods publickey",
                    "  PermitRootLogin no",
                    "  PasswordAuthentication no",
                )[kind]
            )
    lines += [f"# padding {i}" for i in range(300 - len(lines))]
    (etc / "ssh/sshd_config").write_text("\n".join(lines) + "\n")
    stack = [
        "auth required pam_env.so",
        "auth required pam_faildelay.so delay=2000000",
        "auth [success=1 default=ignore] pam_succeed_if.so user ingroup sudo",
        "auth required pam_google_authenticator.so nullok",
        "auth required pam_permit.so",
    ]
    stack += [f"# stack padding {i}" for i in range(40 - len(stack))]
    (etc / "pam.d/sshd").write_text("\n".join(stack) + "\n")
    (etc / "pam.d/other").write_text("auth required pam_deny.so\n")
    modules = root / MODULES.lstrip("/")
    modules.mkdir(parents=True)
    for module in (
        "pam_env",
        "pam_faildelay",
        "pam_succeed_if",
        "pam_google_authenticator",
        "pam_permit",
        "pam_deny",
    ):
        (modules / f"{module}.so").write_text("")


class LiveTree(LocalHost):
    """Files from the tree, commands on this machine, and ``sshd -f`` pointed at the tree."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.live = True
        self.sshd_calls = 0

    def exists(self, path: str) -> bool:
        return path == "/usr/sbin/sshd" or super().exists(path)

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        args = list(argv)
        if args and args[0].endswith("sshd"):
            self.sshd_calls += 1
            args = [
                str(self.root / a.lstrip("/")) if a.startswith("/etc/ssh/") else a for a in args
            ]
        return super().run(args, timeout, env, stdin)


def timed(fn, runs: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    samples, result = [], None
    for _ in range(runs):
        begin = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - begin)
    return statistics.median(samples), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rra-bench-auth-"))
    try:
        build_tree(workdir, args.accounts)
        parsed_s, parsed = timed(lambda: collect_auth(LocalHost(workdir)), args.runs)
        live_host = LiveTree(workdir)
        if not shutil.which("sshd") and not Path("/usr/sbin/sshd").exists():
            sys.exit("sshd is not installed (apt-get install openssh-server)")
        Path("/run/sshd").mkdir(exist_ok=True)
        live_s, live = timed(lambda: collect_auth(live_host), args.runs)
        calls = live_host.sshd_calls // args.runs
        assert live.ssh is not None and live.ssh.source == "sshd -T", live.ssh  # type: ignore[attr-defined]
        one_call_s, _ = timed(
            lambda: LocalHost("/").run(
                [
                    "/usr/sbin/sshd",
                    "-T",
                    "-f",
                    str(workdir / "etc/ssh/sshd_config"),
                    "-C",
                    "user=u,host=h,addr=10.1.1.1",
                ]
            ),
            5,
        )
        config = load_sshd_config(LocalHost(workdir)).verdict_view()
        scenarios, _ = build_scenarios(config)
        accounts = parsed.accounts or []  # type: ignore[attr-defined]
        interactive = [a for a in accounts if a.interactive]
        classes = {user_class(config, a.name, set(a.groups)) for a in interactive}
        naive_s = one_call_s * len(interactive) * len(scenarios)
        print(
            f"accounts: {len(accounts)} ({len(interactive)} interactive); Match blocks that can "
            f"change a verdict: {len(config.blocks)} of 50; scenarios: {len(scenarios)}; "
            f"user classes: {len(classes)}"
        )
        verdicts: dict[str, int] = {}
        for a in accounts:
            verdicts[a.ssh] = verdicts.get(a.ssh, 0) + 1
        print(f"verdicts: {dict(sorted(verdicts.items()))}")
        print(f"parser path: {parsed_s:.3f} s (target <= 1 s)")
        print(f"live sshd -T path: {live_s:.3f} s with {calls} sshd -T calls (target <= 3 s)")
        print(
            f"one sshd -T call: {one_call_s * 1000:.1f} ms; naive one-call-per-account-and-scenario: {naive_s:.1f} s"
        )
        print(f"ratio live/naive: {live_s / naive_s:.3f}; parser/live: {parsed_s / live_s:.2f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
