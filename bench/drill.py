"""Benchmark: a restore drill against a bare ``restic --no-cache restore --verify``.

Setup (not timed): ``--files`` files of random bytes (``os.urandom``, log-normal sizes summing to
``--size-mb`` MB, spread over a few subdirectories), a ``sha256sum``-format ``MANIFEST.sha256`` in
the data root, then ``restic init`` and ``restic backup`` (password in a file, restic's cache in
the work dir through ``XDG_CACHE_HOME``).

Each round, in alternating order, on the same snapshot:

* **bare** — ``restic --repo R --password-file F --no-cache restore ID --target T --verify``,
  timed with ``perf_counter``; T is removed afterwards (not timed).
* **drill** — ``run_drill`` on ``LocalHost`` with the verify steps ``restic_verify``,
  ``files_min``, ``bytes_min`` and ``manifest``, ``cleanup: always``, the sandbox and lock file in
  the work dir. Split into the drill's own step timings: *restore + verify + manifest* (the
  ``restore``, ``tree`` and verify steps: the same restic command plus one hashing pass and the
  checks) and the overhead around it (``resolve_snapshot``: ``restic version`` + ``snapshots``;
  ``safety``: ``restic stats``; cleanup = verified_at → ended_at).

The page cache is not dropped (not portable): the order alternates and medians are reported.
Dirty pages are flushed (``os.sync``, not timed) before each timed run, so that neither pays for
writing back the previous restore; the ratio is taken per round (bare and drill of the same
round) and its median reported, with the ratio of the medians beside it. One untimed restore and
delete comes first, so every timed restore, the first included, follows the deletion of a tree of
the same size (which, on some disks, makes the next restore markedly slower).
Also measured once per round: ``restic --no-cache cat config``, i.e. what opening the repository
(key derivation) costs each restic invocation. Finally, on one restored tree: ``hash_tree`` with
its default worker count and others, against a single-threaded sha256 loop over the same files.

``--keep-restores`` deletes no restored tree until the end (the drill runs with ``cleanup:
never``), for the other disk regime: no timed restore writes into just-freed blocks.

    .venv/bin/python bench/drill.py [--size-mb 500] [--files 5000] [--rounds 3] [--json]
    .venv/bin/python bench/drill.py --keep-restores
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rra.agent.drill.runner import run_drill
from rra.agent.drill.tree import default_workers, hash_tree
from rra.agent.local import LocalHost, child_environment
from rra.agent.logs import configure_logging
from rra.checks.drill import DrillResult
from rra.checks.playbook import Playbook

PASSWORD = "bench-drill-password-not-secret"  # noqa: S105 - throwaway benchmark repository
SNAPSHOT_HOST = "bench-drill"
SUBDIRS = ("docs", "media/photos", "media/video", "db", "logs/2025", "logs/2026", "src/app")
TARGET_RATIO = 1.2
_WRITE_CHUNK = 16 << 20


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Setup:
    work: Path
    data: Path
    repo: Path
    password_file: Path
    snapshot_id: str
    files: int
    total_bytes: int


# ── setup ────────────────────────────────────────────────────────────────────────────────────────


def file_sizes(total: int, count: int, rng: random.Random) -> list[int]:
    """``count`` log-normal sizes (a few bytes to several MB) summing exactly to ``total``."""
    weights = [rng.lognormvariate(0.0, 1.5) for _ in range(count)]
    scale = total / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[sizes.index(max(sizes))] += total - sum(sizes)
    return sizes


def generate_data(root: Path, total: int, count: int, seed: int = 7) -> int:
    """Random files under ``root`` and ``root/MANIFEST.sha256`` (relative names); bytes written."""
    rng = random.Random(seed)  # noqa: S311 - sizes only; the bytes come from os.urandom
    lines = []
    written = 0
    for index, size in enumerate(file_sizes(total, count, rng)):
        relative = f"{SUBDIRS[index % len(SUBDIRS)]}/file-{index:05d}.bin"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        with path.open("wb") as handle:
            left = size
            while left:
                block = os.urandom(min(left, _WRITE_CHUNK))
                handle.write(block)
                hasher.update(block)
                left -= len(block)
        lines.append(f"{hasher.hexdigest()}  {relative}")
        written += size
    (root / "MANIFEST.sha256").write_text("\n".join(lines) + "\n")
    return written


def restic(setup_repo: Path, password_file: Path, *args: str) -> str:
    """Run restic on the bench repository (password from the file, never in argv); stdout."""
    argv = ["restic", "--repo", str(setup_repo), "--password-file", str(password_file), *args]
    done = subprocess.run(
        argv,
        check=True,
        capture_output=True,
        text=True,
        env=child_environment(),
        stdin=subprocess.DEVNULL,
    )
    return done.stdout


def make_setup(work: Path, size_mb: int, files: int) -> Setup:
    data, repo, password_file = work / "data", work / "repo", work / "password"
    data.mkdir()
    started = time.perf_counter()
    total = generate_data(data, size_mb * 10**6, files)
    say(f"generated {files} files, {total:,} bytes in {time.perf_counter() - started:.1f} s")
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    started = time.perf_counter()
    restic(repo, password_file, "init")
    summary = restic(repo, password_file, "backup", "--json", "--host", SNAPSHOT_HOST, str(data))
    snapshot_id = json.loads(summary.strip().splitlines()[-1])["snapshot_id"]
    say(
        f"restic init + backup in {time.perf_counter() - started:.1f} s: snapshot {snapshot_id[:8]}"
    )
    return Setup(work, data, repo, password_file, snapshot_id, files, total)


def playbook(setup: Setup, cleanup: str = "always") -> Playbook:
    return Playbook.model_validate(
        {
            "name": "bench-drill",
            "rto": "1h",
            "source": {
                "restic": {
                    "repository": str(setup.repo),
                    "password_file": str(setup.password_file),
                    "host": SNAPSHOT_HOST,
                    "path": str(setup.data),
                    "binary": "restic",
                }
            },
            "sandbox": str(setup.work / "sandbox"),
            "verify": [
                {"restic_verify": True},
                {"files_min": setup.files},
                {"bytes_min": setup.total_bytes},
                {"manifest": {"file": str(setup.data / "MANIFEST.sha256")}},
            ],
            "cleanup": cleanup,
        }
    )


# ── the measurements ─────────────────────────────────────────────────────────────────────────────


def bare_restore(setup: Setup, target: Path) -> float:
    """Seconds for the bare restore the drill is compared with (the target is left in place)."""
    argv = [
        "restic", "--repo", str(setup.repo), "--password-file", str(setup.password_file),
        "--no-cache", "restore", setup.snapshot_id, "--target", str(target), "--verify",
    ]  # fmt: skip
    os.sync()
    started = time.perf_counter()
    subprocess.run(
        argv, check=True, capture_output=True, env=child_environment(), stdin=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def open_repository(setup: Setup) -> float:
    """Seconds for ``restic --no-cache cat config``: opening the repository (key derivation)."""
    started = time.perf_counter()
    restic(setup.repo, setup.password_file, "--no-cache", "cat", "config")
    return time.perf_counter() - started


VERIFY_STEPS = ("restic_verify", "files_min", "bytes_min", "manifest")


def drill_round(setup: Setup, book: Playbook) -> dict[str, float]:
    os.sync()
    started = time.perf_counter()
    result = run_drill(
        book,
        LocalHost(),
        playbook_sha256="0" * 64,
        lock_path=str(setup.work / "drill.lock"),
    )
    call = time.perf_counter() - started
    check_drill(result, setup, cleaned=book.cleanup == "always")
    steps = {step.name: step.duration_seconds or 0.0 for step in result.steps}
    assert result.verified_at is not None
    verify = sum(steps[name] for name in VERIFY_STEPS)
    return {
        "total": (result.ended_at - result.started_at).total_seconds(),
        "run_drill_call": call,
        "resolve_snapshot": steps["resolve_snapshot"],
        "safety": steps["safety"],
        "restore": steps["restore"],
        "tree": steps["tree"],
        "verify_steps": verify,
        "restore_verify_manifest": steps["restore"] + steps["tree"] + verify,
        "cleanup": (result.ended_at - result.verified_at).total_seconds(),
        "rto": result.rto_seconds or 0.0,
    }


def check_drill(result: DrillResult, setup: Setup, *, cleaned: bool) -> None:
    if result.verdict != "pass":
        raise SystemExit(f"the drill did not pass: {result.reasons}")
    if result.files_restored != setup.files + 1 or result.bytes_restored is None:
        raise SystemExit(f"unexpected file count {result.files_restored} (want {setup.files + 1})")
    manifest = next(s for s in result.steps if s.name == "manifest")
    if manifest.details.get("entries") != setup.files:
        raise SystemExit(f"the manifest step checked {manifest.details} entries")
    if result.cleaned_up != cleaned:
        raise SystemExit(f"the drill's cleanup: {result.cleaned_up}, expected {cleaned}")


def plain_sha256_loop(root: str) -> int:
    """The single-threaded baseline: walk, open, ``hashlib.file_digest``; files hashed."""
    count = 0
    for directory, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(directory, name), "rb") as handle:  # noqa: PTH118, PTH123
                hashlib.file_digest(handle, "sha256")
            count += 1
    return count


def time_call(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def hashing(tree: Path, rounds: int, workers: Sequence[int]) -> dict[str, Any]:
    """``hash_tree`` at several worker counts against the plain loop, on a warm restored tree."""
    root = str(tree)
    plain_sha256_loop(root)  # warm the page cache the same way for every variant
    variants: dict[str, Callable[[], object]] = {
        "plain_loop_1_thread": lambda: plain_sha256_loop(root)
    }
    for count in workers:
        variants[f"hash_tree_workers_{count}"] = functools.partial(hash_tree, root, workers=count)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for index in range(rounds):
        names = list(variants) if index % 2 == 0 else list(reversed(variants))
        for name in names:
            times[name].append(time_call(variants[name]))
    medians = {name: statistics.median(values) for name, values in times.items()}
    default = medians[f"hash_tree_workers_{default_workers()}"]
    return {
        "default_workers": default_workers(),
        "median_seconds": {name: round(value, 3) for name, value in medians.items()},
        "speedup_default_vs_plain_loop": round(medians["plain_loop_1_thread"] / default, 2),
        "speedup_default_vs_workers_1": round(medians["hash_tree_workers_1"] / default, 2),
    }


# ── reporting ────────────────────────────────────────────────────────────────────────────────────


def median_of(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(row[key] for row in rows), 3) for key in rows[0]}


def summarise(
    setup: Setup,
    bare: list[float],
    drills: list[dict[str, float]],
    opens: list[float],
    hashes: dict[str, Any],
) -> dict[str, Any]:
    bare_median = statistics.median(bare)
    drill = median_of(drills)
    ratios = [d["restore_verify_manifest"] / b for d, b in zip(drills, bare, strict=True)]
    totals = [d["total"] / b for d, b in zip(drills, bare, strict=True)]
    ratio_rvm = statistics.median(ratios)
    return {
        "files": setup.files + 1,
        "bytes": setup.total_bytes,
        "rounds": [
            {"bare_restore_s": round(b, 3), **{f"drill_{k}_s": round(v, 3) for k, v in d.items()}}
            for b, d in zip(bare, drills, strict=True)
        ],
        "median": {
            "bare_restore_s": round(bare_median, 3),
            **{f"drill_{key}_s": value for key, value in drill.items()},
            "restic_open_repository_s": round(statistics.median(opens), 3),
        },
        "ratio_restore_verify": round(ratio_rvm, 3),
        "ratio_restore_verify_per_round": [round(r, 3) for r in ratios],
        "ratio_restore_verify_of_medians": round(drill["restore_verify_manifest"] / bare_median, 3),
        "ratio_total": round(statistics.median(totals), 3),
        "ratio_total_per_round": [round(r, 3) for r in totals],
        "ratio_total_of_medians": round(drill["total"] / bare_median, 3),
        "target_ratio_restore_verify": TARGET_RATIO,
        "target_met": ratio_rvm <= TARGET_RATIO,
        "hashing": hashes,
    }


def _row(label: str, row: dict[str, Any], loads: str = "") -> str:
    return (
        f"{label:>5}  {row['bare_restore_s']:5.2f}  {row['drill_total_s']:11.2f}  "
        f"{row['drill_restore_s']:7.2f}  {row['drill_tree_s']:5.2f}  "
        f"{row['drill_verify_steps_s']:6.3f}  {row['drill_restore_verify_manifest_s']:23.2f}  "
        f"{row['drill_resolve_snapshot_s']:7.2f}  {row['drill_safety_s']:6.2f}  "
        f"{row['drill_cleanup_s']:7.2f}  {loads}"
    ).rstrip()


def render(summary: dict[str, Any]) -> str:
    m = summary["median"]
    lines = [
        f"snapshot: {summary['files']:,} files, {summary['bytes']:,} bytes; mode {summary['mode']}",
        "",
        "round  bare   drill total  restore  tree   verify  restore+verify+manifest  "
        "resolve  safety  cleanup  load (bare/drill)",
    ]
    for index, row in enumerate(summary["rounds"], start=1):
        loads = f"{row['loadavg_1m_before_bare']:.2f}/{row['loadavg_1m_before_drill']:.2f}"
        lines.append(_row(str(index), row, loads))
    lines.append(_row("med", m))
    met = "met" if summary["target_met"] else "NOT met"
    lines += [
        "",
        f"opening the repository (restic --no-cache cat config): {m['restic_open_repository_s']:.2f} s"
        " per restic invocation",
        f"ratio_restore_verify = {summary['ratio_restore_verify']:.3f} (median of rounds "
        f"{summary['ratio_restore_verify_per_round']}; of medians "
        f"{summary['ratio_restore_verify_of_medians']:.3f}); target <= {TARGET_RATIO}: {met}",
        f"ratio_total          = {summary['ratio_total']:.3f} (median of rounds "
        f"{summary['ratio_total_per_round']}; of medians {summary['ratio_total_of_medians']:.3f})",
        "",
        f"hashing the restored tree (default workers = {summary['hashing']['default_workers']}):",
    ]
    for name, seconds in summary["hashing"]["median_seconds"].items():
        lines.append(f"  {name:<24} {seconds:6.3f} s")
    lines.append(
        f"  speed-up default vs plain loop: x{summary['hashing']['speedup_default_vs_plain_loop']}"
        f", vs workers=1: x{summary['hashing']['speedup_default_vs_workers_1']}"
    )
    return "\n".join(lines)


# ── main ─────────────────────────────────────────────────────────────────────────────────────────


def run(work: Path, options: argparse.Namespace) -> dict[str, Any]:
    # restic's cache (snapshots, stats) lives in the work dir; child_environment passes it on.
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")
    info = os.statvfs(work)
    trees = 2 * options.rounds + 1 if options.keep_restores else 1
    need = int(options.size_mb * 10**6 * (2.5 + trees))
    if info.f_bavail * info.f_frsize < need:
        raise SystemExit(f"not enough free space in {work}: need ~{need / 1e9:.1f} GB")
    setup = make_setup(work, options.size_mb, options.files)
    keep = options.keep_restores
    book = playbook(setup, cleanup="never" if keep else "always")
    bare: list[float] = []
    drills: list[dict[str, float]] = []
    opens: list[float] = []
    loads: dict[str, list[float]] = {"bare": [], "drill": []}
    if not keep:
        # Untimed warm-up. On this disk (ext4 mounted with discard, on a virtual disk) a restore
        # written soon after a tree of the same size was deleted is ~2.4x slower than one into
        # never-freed blocks. Every timed restore here follows a delete (the bare target's, or
        # the drill's own cleanup), so the first one must too, or round 1 mixes both regimes.
        bare_restore(setup, work / "warm-up")
        shutil.rmtree(work / "warm-up")
    for index in range(options.rounds):
        order = ("bare", "drill") if index % 2 == 0 else ("drill", "bare")
        for kind in order:
            # Other work on the machine shows here (the bench itself adds up to ~0.9 as it goes).
            loads[kind].append(round(os.getloadavg()[0], 2))
            if kind == "bare":
                target = work / f"bare-{index}"
                bare.append(bare_restore(setup, target))
                if not keep:
                    shutil.rmtree(target)
                say(f"round {index + 1}: bare restore {bare[-1]:.2f} s")
            else:
                drills.append(drill_round(setup, book))
                d = drills[-1]
                say(
                    f"round {index + 1}: drill {d['total']:.2f} s "
                    f"(restore+verify+manifest {d['restore_verify_manifest']:.2f} s)"
                )
        opens.append(open_repository(setup))
    say("hashing comparison")
    tree = work / "bare-0"
    if not keep:
        bare_restore(setup, tree)
    os.sync()  # hash a clean, warm tree: the drill's own tree step is measured above
    workers = sorted({1, 2, default_workers(), 8})
    hashes = hashing(tree, options.rounds, workers)
    for path in [*work.glob("bare-*"), work / "sandbox"]:
        shutil.rmtree(path, ignore_errors=True)
    summary = summarise(setup, bare, drills, opens, hashes)
    summary["mode"] = "keep-restores" if keep else "cleanup"
    for row, bare_load, drill_load in zip(
        summary["rounds"], loads["bare"], loads["drill"], strict=True
    ):
        row["loadavg_1m_before_bare"] = bare_load
        row["loadavg_1m_before_drill"] = drill_load
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=500, help="snapshot size in MB (10^6)")
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workdir",
        type=Path,
        help="an empty or new directory, kept (default: a temp dir, removed)",
    )
    parser.add_argument(
        "--keep-restores",
        action="store_true",
        help="delete no restored tree until the end (the drill runs with cleanup: never), so no "
        "timed restore writes into just-freed blocks; needs 2 x rounds x size more disk",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    options = parser.parse_args()
    if shutil.which("restic") is None:
        raise SystemExit("restic is not on PATH")
    configure_logging("console", "warning")  # logs to stderr, as the CLI does
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
        if any(options.workdir.iterdir()):
            raise SystemExit(f"{options.workdir} is not empty")
        summary = run(options.workdir.resolve(), options)
    else:
        with tempfile.TemporaryDirectory(prefix="rra-bench-drill-") as tmp:
            summary = run(Path(tmp).resolve(), options)
    print(json.dumps(summary, indent=2) if options.json else render(summary))


if __name__ == "__main__":
    main()
