"""SIGKILL while the real spool writes: no torn entry is ever listed, and no loss is silent.

A child process spools large signed reports in a tight loop (with a small cap, so drops happen
too); the test kills it with SIGKILL at random moments, and in some rounds the moment it sees a
temp file appear (so a kill lands mid-write for sure), then checks what the next listing sees.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from rra.agent.identity import HostKey, key_path, verify_signature
from rra.agent.spool import Spool

CAP = 6
ROUNDS = 6
SEQS_PER_ROUND = 100_000  # each round writes its own seq range

WRITER = """
import sys
from pathlib import Path
from rra.agent.identity import HostKey, key_path
from rra.agent.spool import Spool
from rra.checks.canonical import canonical_json

state, seq = Path(sys.argv[1]), int(sys.argv[2])
key = HostKey.load(key_path(state))
spool = Spool(state, max_reports=int(sys.argv[3]))
filler = "ü" * 6_000_000  # 3 MB of UTF-8: a write takes long enough to be interrupted
print("ready", flush=True)
while True:
    payload = canonical_json({"report_id": f"r{seq}", "seq": seq, "filler": filler})
    spool.add(seq, f"r{seq}", payload, key.sign(payload))
    seq += 1
"""


def wait_for_a_new_file(spool_dir: Path, before: set[str], limit: float = 5.0) -> None:
    """Return the moment the writer creates a file: with temp + rename, that is a temp file."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with os.scandir(spool_dir) as found:
            if any(e.name not in before for e in found):
                return
    raise AssertionError("the writer never started an entry")


def kill_writer(state: Path, first_seq: int, delay: float | None) -> None:
    """SIGKILL the writer after ``delay`` seconds, or (None) as soon as it creates a file."""
    before = {p.name for p in (state / "spool").iterdir()}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(state), str(first_seq), str(CAP)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        if delay is None:
            wait_for_a_new_file(state / "spool", before)
        else:
            time.sleep(delay)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL


def test_sigkill_never_leaves_a_torn_entry(tmp_path: Path) -> None:
    state = tmp_path / "state"
    key = HostKey.generate()
    key.save(key_path(state))
    (state / "spool").mkdir()
    rng = random.SystemRandom()  # a different set of moments every run
    temp_files_seen = 0
    for round_number in range(ROUNDS):
        first_seq = (round_number + 1) * SEQS_PER_ROUND
        mid_write = round_number % 2 == 1
        kill_writer(state, first_seq, None if mid_write else rng.uniform(0.02, 0.25))
        temp_files_seen += len(list((state / "spool").glob(".*.tmp")))

        spool = Spool(state, max_reports=CAP)
        entries = spool.entries()
        for entry in entries:  # every listed entry is whole and verifies
            assert json.loads(entry.payload)["seq"] == entry.seq
            assert verify_signature(key.public_key_b64, entry.payload.encode(), entry.signature)
        assert not list((state / "spool").glob(".*.tmp")), "temp files must be cleaned"
        assert not (state / "spool" / "corrupt").exists(), "nothing torn was ever renamed in"

        # Loss is never silent: each seq this round wrote before its newest spooled one is
        # either still spooled or counted as dropped.
        this_round = {e.seq for e in entries if e.seq >= first_seq}
        if this_round:
            dropped = set(spool.delivery_snapshot().dropped_seqs)
            spooled = {e.seq for e in entries}
            missing = set(range(first_seq, max(this_round))) - spooled - dropped
            assert not missing, f"silently lost seqs {sorted(missing)}"
    assert temp_files_seen, "no kill interrupted a write: the test did not test anything"
