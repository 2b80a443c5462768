"""Benchmark: direct-access sources from wtmp and auth.log at scale (DESIGN §3).

* **wtmp**: files of 100,000 and 1,000,000 records (38 MB / 384 MB; 3,000 distinct sources —
  IPv4, IPv6, host names — 200 users, half the records logins and most of the rest logouts,
  spread over 60 days so that about half fall in the 30-day window). Timed: ``read_wtmp``
  consumed through ``aggregate``. Baselines in the same run, over the same file: a bare
  ``struct.iter_unpack`` loop with rra's 7-field struct (the floor of any struct-based reader)
  and with all 13 utmp fields. Context: ``last -f -a -i`` on the same files.
* **auth.log**: ~1 GB of syslog text (classic timestamps, 90 days, 0.5 % ``Accepted`` lines,
  the rest sshd/cron/sudo/logind noise), gzip level 6 as logrotate writes it, generated
  streaming. Timed: ``read_auth_logs`` consumed through ``aggregate``; baseline: decompressing
  the file alone. The same text uncompressed is timed too (the ≥ 50 MB/s target).

Every rra measurement runs in a fresh child interpreter, so ``RUSAGE_SELF`` gives that
measurement's peak RSS alone; the median of ``--runs`` is reported. Files live in a temp dir
that is deleted afterwards.

    .venv/bin/python bench/exposure.py [--runs 3] [--auth-mb 1024] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)
BASTIONS = ["10.0.5.0/28", "2001:db8:b::/48"]
FULL_UTMP = struct.Struct("<hxxi32s4s32s256shhiii16s20x")  # every field, as a naive reader would
SOURCES = 3_000


def _sources(rng: random.Random) -> list[tuple[str, bytes]]:
    """(host text, ut_addr_v6 bytes): 70 % IPv4, 20 % IPv6, 10 % host names only."""
    import socket

    found: list[tuple[str, bytes]] = []
    for index in range(SOURCES):
        kind = index % 10
        if kind < 7:
            text = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            found.append((text, socket.inet_pton(socket.AF_INET, text) + bytes(12)))
        elif kind < 9:
            text = f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(1, 65536):x}"
            found.append((text, socket.inet_pton(socket.AF_INET6, text)))
        else:
            found.append((f"ws{index}.corp.example.org", bytes(16)))
    return found


def build_wtmp(path: Path, records: int, seed: int = 11) -> None:
    rng = random.Random(seed)  # noqa: S311 - reproducible benchmark data
    sources = _sources(rng)
    users = [f"user{i:03d}".encode() for i in range(200)]
    start = int((NOW - timedelta(days=60)).timestamp())
    step = 60 * 86_400 / records
    with path.open("wb", buffering=1 << 22) as out:
        for index in range(records):
            sec = start + int(index * step)
            line = f"pts/{index % 100}".encode()
            roll = index % 20
            if roll < 10:  # a login
                host, addr = sources[rng.randrange(SOURCES)]
                record = FULL_UTMP.pack(
                    7,
                    1000 + index,
                    line,
                    line[-4:],
                    users[index % 200],
                    host.encode(),
                    0,
                    0,
                    0,
                    sec,
                    index % 1_000_000,
                    addr,
                )
            elif roll < 19:  # a logout
                record = FULL_UTMP.pack(
                    8, 1000 + index, line, line[-4:], b"", b"", 0, 0, 0, sec, 0, bytes(16)
                )
            else:  # boot and run-level records
                record = FULL_UTMP.pack(
                    2, 0, b"~", b"~~", b"reboot", b"6.1.0-bench", 0, 0, 0, sec, 0, bytes(16)
                )
            out.write(record)


def bare_loop(path: Path, layout: struct.Struct) -> tuple[float, int]:
    """The floor: read with the same 4 MiB readinto buffer and unpack every record, nothing else."""
    buffer = bytearray(384 * 10_922)
    view = memoryview(buffer)
    count = 0
    begin = time.perf_counter()
    with path.open("rb", buffering=0) as stream:
        while True:
            filled = stream.readinto(view)
            if not filled:
                break
            for _record in layout.iter_unpack(view[: filled - filled % 384]):
                count += 1
    return time.perf_counter() - begin, count


_NOISE = [
    "{t} web01 sshd[{p}]: Connection closed by authenticating user root {ip} port {port} [preauth]",
    "{t} web01 sshd[{p}]: Failed password for invalid user admin from {ip} port {port} ssh2",
    "{t} web01 sshd[{p}]: Received disconnect from {ip} port {port}:11: Bye Bye [preauth]",
    "{t} web01 sshd[{p}]: pam_unix(sshd:session): session closed for user deploy",
    "{t} web01 CRON[{p}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
    "{t} web01 CRON[{p}]: pam_unix(cron:session): session closed for user root",
    "{t} web01 sudo:   deploy : TTY=pts/1 ; PWD=/srv/app ; USER=root ; COMMAND=/usr/bin/systemctl restart app",
    "{t} web01 systemd-logind[512]: New session {p} of user deploy.",
]
_ACCEPTED = "{t} web01 sshd[{p}]: Accepted publickey for {u} from {ip} port {port} ssh2: ED25519 SHA256:Zq3dLkGz0x7pX2PqXhW3r1mX6qk0+5sQJ2m9bEo1xYc"


def build_auth_log(
    path: Path, megabytes: int, plain: Path | None, seed: int = 5
) -> tuple[int, int]:
    """Write ~``megabytes`` MB of syslog text, gzipped (and plain if asked). Returns (bytes, accepted)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible benchmark data
    sources = [host for host, _ in _sources(rng) if not host.startswith("ws")]
    target = megabytes * 1_000_000
    lines_per_block = 2_000
    start = NOW - timedelta(days=90)
    written = accepted = 0
    with ExitStack() as stack:
        packed = stack.enter_context(gzip.GzipFile(path, "wb", compresslevel=6))
        text = stack.enter_context(plain.open("wb")) if plain is not None else None
        while written < target:
            # Time advances with the bytes written: the file ends just before NOW.
            moment = start + timedelta(days=90) * (written / target)
            stamp = f"{moment:%b} {moment.day:2d} {moment:%H:%M:%S}"
            lines = []
            for index in range(lines_per_block):
                ip = sources[rng.randrange(len(sources))]
                fields = {
                    "t": stamp,
                    "p": 1000 + index,
                    "ip": ip,
                    "port": 30000 + index,
                    "u": f"user{rng.randrange(200):03d}",
                }
                if index % 200 == 7:  # 0.5 %
                    lines.append(_ACCEPTED.format(**fields))
                    accepted += 1
                else:
                    lines.append(_NOISE[index % len(_NOISE)].format(**fields))
            data = ("\n".join(lines) + "\n").encode()
            packed.write(data)
            if text is not None:
                text.write(data)
            written += len(data)
    return written, accepted


def decompress_only(path: Path) -> float:
    begin = time.perf_counter()
    with gzip.open(path, "rb") as stream:
        while stream.read(1 << 20):
            pass
    return time.perf_counter() - begin


# --- measurements in a fresh child ------------------------------------------------------------


def child(kind: str, folder: str, name: str) -> None:
    """Runs in the child: one measurement, printed as JSON (time excludes interpreter start)."""
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from rra.agent.exposure.authlog import read_auth_logs
    from rra.agent.exposure.logins import aggregate
    from rra.agent.exposure.wtmp import read_wtmp
    from rra.agent.local import LocalHost

    rss_imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    host = LocalHost(folder)
    bastions = [ip_network(b) for b in BASTIONS]
    begin = time.perf_counter()
    if kind == "wtmp":
        logins, stats = read_wtmp(host, "/" + name, SINCE)
        sources = aggregate(logins, SINCE, bastions)
        reads = [stats]
    else:
        logins, reads = read_auth_logs(host, ["/" + name], since=SINCE, now=NOW, zone=UTC)
        sources = aggregate(logins, SINCE, bastions)
    seconds = time.perf_counter() - begin
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss_start_kb": rss_start,
                "rss_imported_kb": rss_imported,
                "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "sources": len(sources),
                "records": sum(r.records for r in reads),
                "used": sum(r.used for r in reads),
                "skipped": sum(r.skipped for r in reads),
                "errors": [r.error for r in reads if r.error],
            }
        )
    )


def measure(kind: str, path: Path, runs: int) -> dict[str, float]:
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(path.parent), path.name],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        results.append(json.loads(done.stdout))
    assert not results[0]["errors"], results[0]["errors"]
    middle = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]
    return {**middle, "rss_peak_kb": max(r["rss_peak_kb"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--auth-mb", type=int, default=1024, help="uncompressed auth.log size (MB)")
    parser.add_argument("--sizes", default="100000,1000000", help="wtmp record counts")
    parser.add_argument("--skip-auth", action="store_true")
    parser.add_argument("--keep", help="build files in this directory and keep them")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "DIR", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rra-bench-exposure-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        print(f"files in {folder}; Python {sys.version.split()[0]}; runs {args.runs}")
        from rra.agent.exposure.wtmp import UTMP

        for size in [int(s) for s in args.sizes.split(",")]:
            path = folder / f"wtmp-{size}"
            if not path.exists():
                begin = time.perf_counter()
                build_wtmp(path, size)
                print(
                    f"built {path.name}: {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - begin:.1f} s"
                )
            bare = min(bare_loop(path, UTMP)[0] for _ in range(args.runs))
            bare_full = min(bare_loop(path, FULL_UTMP)[0] for _ in range(args.runs))
            result = measure("wtmp", path, args.runs)
            print(
                f"wtmp {size:>9,} records: rra {result['seconds']:.3f} s"
                f" | bare iter_unpack (7 fields) {bare:.3f} s → ×{result['seconds'] / bare:.2f}"
                f" | bare (13 fields) {bare_full:.3f} s → ×{result['seconds'] / bare_full:.2f}"
                f" | peak RSS {result['rss_peak_kb'] / 1024:.1f} MB"
                f" (after imports {result['rss_imported_kb'] / 1024:.1f} MB)"
                f" | {result['used']:,} logins in window, {result['sources']:,} sources"
            )
            if shutil.which("last"):  # context only: util-linux reading the same file
                begin = time.perf_counter()
                subprocess.run(
                    ["last", "-f", str(path), "-a", "-i"], stdout=subprocess.DEVNULL, check=True
                )
                print(
                    f"  context: last -f on {size:,} records: {time.perf_counter() - begin:.2f} s"
                )

        if args.skip_auth:
            return
        gz = folder / "auth.log.2.gz"
        plain = folder / "auth.log.1"
        if not gz.exists() or not plain.exists():
            begin = time.perf_counter()
            size, accepted = build_auth_log(gz, args.auth_mb, plain)
            print(
                f"built {gz.name}: {size / 1e6:.0f} MB of text, {gz.stat().st_size / 1e6:.0f} MB gzipped,"
                f" {accepted:,} Accepted lines, in {time.perf_counter() - begin:.0f} s"
            )
        text_mb = plain.stat().st_size / 1e6
        unzip = min(decompress_only(gz) for _ in range(args.runs))
        for path in (gz, plain):
            result = measure("auth", path, args.runs)
            extra = (
                f" | decompression alone {unzip:.2f} s → ×{result['seconds'] / unzip:.2f}"
                if path == gz
                else ""
            )
            print(
                f"auth {path.name}: {result['seconds']:.2f} s = {text_mb / result['seconds']:.0f} MB/s of text"
                f"{extra} | peak RSS {result['rss_peak_kb'] / 1024:.1f} MB"
                f" | {result['records']:,} lines, {result['used']:,} logins in window, {result['sources']:,} sources"
            )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
