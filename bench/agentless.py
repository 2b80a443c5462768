"""Benchmark: agentless collection of 50 real sshd instances on loopback, forks 1 against forks 10.

Each instance is its own sshd (own host key, config, port) on this machine, so every "host"
offers the same facts and the collection over SSH does all its real work: SFTP reads of passwd,
shadow, sshd_config, PAM and sudoers, ``sshd -T`` calls, ``ss``, wtmp and auth.log. Timed: the
whole ``rra auditor collect --inventory ... --forks N`` command (storing every report in the
auditor's SQLite database, as a user would run it), under ``/usr/bin/time -v`` for the collector
process's peak RSS. Baseline: the same command with ``--forks 1`` in the same run; the ratio is
the speed-up. Both sides of every SSH session share this machine's 2 cores, which bounds the
speed-up from above (a real fleet's hosts bring their own CPUs).

    .venv/bin/python bench/agentless.py [--hosts 50] [--forks 10] [--rounds 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sshd_lab import SshdLab, sshd_available  # noqa: E402 - after the path is set

RRA = str(ROOT / ".venv" / "bin" / "rra")


def _collection_user(lab: SshdLab) -> tuple[str, Path]:
    """A dedicated collection account as a site would create one: /bin/sh, the lab key, and
    passwordless sudo (become) through a sudoers.d file removed again at the end."""
    user = lab.add_user("rrabench")
    rule = Path(f"/etc/sudoers.d/{user}")
    rule.write_text(f"{user} ALL=(root) NOPASSWD: ALL\n")
    rule.chmod(0o440)
    return user, rule


def _inventory(path: Path, lab: SshdLab, user: str) -> None:
    become = "true" if user != "root" else "false"
    lines = [
        "all:",
        "  vars:",
        f"    user: {user}",
        f"    become: {become}",
        f"    key_file: {lab.client_key}",
        f"    known_hosts: {lab.known_hosts}",
        "    org: bench/agentless",
        "  hosts:",
    ]
    lines += [f"    {s.name}: {{address: 127.0.0.1, port: {s.port}}}" for s in lab.servers]
    path.write_text("\n".join(lines) + "\n")


def _collect(workdir: Path, inventory: Path, forks: int, tag: str) -> dict[str, Any]:
    data_dir = workdir / f"auditor-{tag}"
    subprocess.run(
        [RRA, "auditor", "--data-dir", str(data_dir), "init", "--hostname", "bench.invalid"],
        check=True,
        capture_output=True,
    )
    argv = [RRA, "auditor", "--data-dir", str(data_dir), "collect", "-i", str(inventory)]
    argv += ["--forks", str(forks), "--json"]
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-v", *argv], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"collect --forks {forks} exited {done.returncode}:\n{done.stderr[-3000:]}"
        )

    def field(label: str) -> float:
        found = re.search(rf"{re.escape(label)}: ([\d.]+)", done.stderr)
        assert found is not None, label
        return float(found.group(1))

    rss_kb = field("Maximum resident set size (kbytes)")
    cpu = field("User time (seconds)") + field("System time (seconds)")
    document = json.loads(done.stdout)
    hosts = document["hosts"]
    return {
        "forks": forks,
        "seconds": round(seconds, 2),
        # the fan-out alone, as the command reports it: without interpreter start-up and init
        "collection_seconds": document["seconds"],
        "peak_rss_mb": round(rss_kb / 1024, 1),
        # CPU of the collector process itself: the hosts' side (sshd, sftp-server, sshd -T) is
        # not in it, so seconds - cpu is time spent waiting on the hosts.
        "collector_cpu_seconds": round(cpu, 2),
        "ok": sum(1 for host in hosts if host["status"] == "ok"),
        "stored": sum(1 for host in hosts if host["stored"] == "stored"),
        "host_seconds_median": round(statistics.median(h["seconds"] for h in hosts), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--as-root",
        action="store_true",
        help="log in as root instead of a dedicated sudo user (root's shell start-up is then timed too)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not sshd_available() or shutil.which("/usr/bin/time") is None:
        raise SystemExit("needs root, openssh-server and /usr/bin/time (apt-get install time)")
    workdir = Path(tempfile.mkdtemp(prefix="rra-bench-agentless-"))
    lab = SshdLab.create(workdir / "lab")
    rule: Path | None = None
    try:
        user = "root"
        if not args.as_root:
            user, rule = _collection_user(lab)
        lab.start(args.hosts)
        inventory = workdir / "inventory.yaml"
        _inventory(inventory, lab, user)
        rounds: list[dict[str, Any]] = []
        for index in range(args.rounds):
            # alternate the order so neither setting always runs on a warmer machine
            order = [1, args.forks] if index % 2 == 0 else [args.forks, 1]
            results = {f: _collect(workdir, inventory, f, f"{index}-{f}") for f in order}
            for forks in order:
                print(f"round {index + 1}: forks {forks}: {results[forks]}", file=sys.stderr)
            rounds.append({"serial": results[1], "parallel": results[args.forks]})
        serial = statistics.median(r["serial"]["seconds"] for r in rounds)
        parallel = statistics.median(r["parallel"]["seconds"] for r in rounds)
        serial_fanout = statistics.median(r["serial"]["collection_seconds"] for r in rounds)
        parallel_fanout = statistics.median(r["parallel"]["collection_seconds"] for r in rounds)
        summary = {
            "hosts": args.hosts,
            "user": user,
            "forks": args.forks,
            "cpus": os.cpu_count(),
            "rounds": rounds,
            "serial_seconds": serial,
            "parallel_seconds": parallel,
            "speedup": round(serial / parallel, 2),
            "collection_seconds_serial": serial_fanout,
            "collection_seconds_parallel": parallel_fanout,
            "speedup_collection": round(serial_fanout / parallel_fanout, 2),
            "peak_rss_mb_parallel": max(r["parallel"]["peak_rss_mb"] for r in rounds),
            "peak_rss_mb_serial": max(r["serial"]["peak_rss_mb"] for r in rounds),
            "targets": {"speedup": 5.0, "peak_rss_mb": 200},
        }
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            print(
                f"{args.hosts} hosts: forks 1 {serial:.1f} s, forks {args.forks} {parallel:.1f} s,"
                f" speed-up x{summary['speedup']} whole command,"
                f" x{summary['speedup_collection']} collection alone (target 5); peak RSS"
                f" {summary['peak_rss_mb_parallel']} MB with forks {args.forks} (target 200)"
            )
    finally:
        if rule is not None:
            rule.unlink(missing_ok=True)
        lab.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
