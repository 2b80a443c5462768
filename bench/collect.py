"""Benchmark: ``rra agent collect`` over 3 repositories with 500 snapshots each.

Splits wall time into time inside restic (every ``Host.run``) and rra's own time (imports, parsing,
checks, scoring, JSON), and reports the peak RSS of the rra process itself (RUSAGE_SELF in a fresh
child process, so restic's memory is not counted). Cold run: empty state dir, so ``restic check``,
``diff`` and ``stats`` run. Warm run: the state dir remembers the check (within its interval) and the
change ratio of the snapshot pair, so only ``snapshots`` runs. Baselines, measured in the same
child: a bare interpreter's RSS, and the restic time itself.

    .venv/bin/python bench/collect.py [--snapshots 500] [--repos 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))


def child(config_path: str, state_dir: str) -> dict[str, Any]:
    """Runs in a fresh interpreter: import rra, collect once, report timings and own peak RSS."""
    baseline_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    from rra.agent.collect import collect_report
    from rra.agent.config import load_config
    from rra.agent.host import RunResult
    from rra.agent.local import LocalHost
    from rra.agent.logs import configure_logging
    from rra.agent.state import StateStore

    imported = time.perf_counter()
    configure_logging("console", "warning")  # logs to stderr, as the CLI does

    class TimingHost(LocalHost):
        restic_seconds = 0.0
        calls: list[str] = []  # noqa: RUF012 - per-process tally

        def run(
            self,
            argv: Sequence[str],
            timeout: float = 60.0,
            env: Mapping[str, str] | None = None,
            stdin: bytes | None = None,
        ) -> RunResult:
            begin = time.perf_counter()
            try:
                return super().run(argv, timeout, env, stdin)
            finally:
                TimingHost.restic_seconds += time.perf_counter() - begin
                subcommand = next((a for a in argv[1:] if a in _SUBCOMMANDS), argv[-1])
                TimingHost.calls.append(subcommand)

    config = load_config(config_path)
    report = collect_report(config, TimingHost(), state=StateStore(Path(state_dir)))
    encoded = report.to_json()
    finished = time.perf_counter()
    assert all(b.status == "ok" for b in report.facts.backups), report.facts.backups
    return {
        "import_seconds": imported - started,
        "collect_seconds": finished - imported,
        "restic_seconds": TimingHost.restic_seconds,
        "restic_calls": TimingHost.calls,
        "rra_own_seconds": finished - started - TimingHost.restic_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "baseline_rss_mb": baseline_rss_kb / 1024,
        "report_bytes": len(encoded),
        "snapshots": sum(b.snapshot_count or 0 for b in report.facts.backups),
    }


_SUBCOMMANDS = {"version", "snapshots", "check", "diff", "stats", "backup", "init"}


def run_child(config_path: Path, state_dir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(config_path), str(state_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def write_config(work: Path, repos: int, snapshots: int) -> Path:
    from fixtures import HOST, template_repository

    template, password_file, data = template_repository(snapshots)
    blocks = []
    for index in range(repos):
        repo = work / f"repo-{index}"
        shutil.copytree(template, repo)
        blocks.append(
            f'[[backup]]\nname = "b{index}"\nrepository = "{repo}"\n'
            f'password_file = "{password_file}"\npaths = ["{data}"]\nhost = "{HOST}"\n'
            f'rpo = "48h"\ncheck_read_data = "none"\n'
        )
    config = work / "agent.toml"
    # The authentication pillar has its own benchmark (bench/auth.py); this one times backups.
    config.write_text('[agent]\norg = "bench"\n\n[auth]\nenabled = false\n\n' + "\n".join(blocks))
    return config


def summarise(label: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return float(statistics.median(run[key] for run in runs))

    wall = median("import_seconds") + median("collect_seconds")
    return {
        "run": label,
        "wall_s": round(wall, 3),
        "restic_s": round(median("restic_seconds"), 3),
        "rra_own_s": round(median("rra_own_seconds"), 3),
        "rra_import_s": round(median("import_seconds"), 3),
        "own_share_of_wall": round(median("rra_own_seconds") / wall, 3),
        "peak_rss_mb": round(max(run["peak_rss_mb"] for run in runs), 1),
        "rss_vs_bare_interpreter": round(
            max(run["peak_rss_mb"] for run in runs) / runs[0]["baseline_rss_mb"], 2
        ),
        "restic_calls": runs[0]["restic_calls"],
        "snapshots_listed": runs[0]["snapshots"],
        "report_bytes": runs[0]["report_bytes"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--snapshots", type=int, default=500)
    parser.add_argument("--repos", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("CONFIG", "STATE"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    with tempfile.TemporaryDirectory(prefix="rra-bench-") as tmp:
        work = Path(tmp)
        config = write_config(work, args.repos, args.snapshots)
        cold, warm = [], []
        for index in range(args.runs):
            state = work / f"state-{index}"
            cold.append(run_child(config, state))  # empty state: check, diff and stats run
            warm.append(run_child(config, state))  # same state: check within interval, diff cached
        results = [summarise("cold", cold), summarise("warm", warm)]
    print(
        json.dumps(
            {"repos": args.repos, "snapshots_each": args.snapshots, "results": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
