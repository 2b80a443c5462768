"""The on-disk spool: oldest first, bounded with counted drops, rejected and corrupt set aside."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rra.agent.identity import HostKey, verify_signature
from rra.agent.spool import DELIVERY_DOCUMENT, Spool, SpoolBusy, entry_name
from rra.checks.canonical import canonical_json

KEY = HostKey.generate()


def add(spool: Spool, seq: int, text: str = "données") -> bytes:
    payload = canonical_json({"report_id": f"r{seq}", "seq": seq, "text": text})
    spool.add(seq, f"r{seq}", payload, KEY.sign(payload))
    return payload


def seqs(spool: Spool) -> list[int]:
    return [entry.seq for entry in spool.entries()]


def delivery_document(state: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((state / f"{DELIVERY_DOCUMENT}.json").read_text())
    return data


def test_entry_is_named_by_seq_and_holds_the_signed_payload(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    payload = add(spool, 42)
    path = tmp_path / "spool" / "000000000042-r42.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(path.read_bytes())) == {"payload", "signature"}
    (entry,) = spool.entries()
    assert entry.payload.encode("utf-8") == payload  # byte for byte, non-ASCII included
    assert verify_signature(KEY.public_key_b64, entry.payload.encode(), entry.signature)


def test_oldest_first_across_seq_widths(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    wanted = [1, 9, 10, 99, 100, 1_000, 123_456_789, 999_999_999_999, 1_000_000_000_000]
    for seq in random.sample(wanted, len(wanted)):
        add(spool, seq)
    assert seqs(spool) == wanted
    assert [e.seq for e in spool.entries(limit=3)] == wanted[:3]


def test_entry_name_refuses_path_tricks() -> None:
    for report_id in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="cannot spool"):
            entry_name(1, report_id)


def test_cap_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_reports=3)
    for seq in range(1, 6):
        add(spool, seq)
    assert seqs(spool) == [3, 4, 5]
    snapshot = spool.delivery_snapshot()
    assert (snapshot.dropped_total, snapshot.dropped_seqs, snapshot.spooled) == (2, [1, 2], 3)
    assert delivery_document(tmp_path)["dropped_by_reason"] == {"cap": 2}
    add(spool, 6)
    snapshot = spool.delivery_snapshot()
    assert (snapshot.dropped_total, snapshot.dropped_seqs) == (3, [1, 2, 3])


def test_lowering_the_cap_drops_many_at_once(tmp_path: Path) -> None:
    for seq in range(1, 8):
        add(Spool(tmp_path, max_reports=100), seq)
    spool = Spool(tmp_path, max_reports=2)
    add(spool, 8)
    assert seqs(spool) == [7, 8]
    assert spool.delivery_snapshot().dropped_seqs == [1, 2, 3, 4, 5, 6]


def test_dropped_seqs_keep_the_last_100_and_the_total_keeps_counting(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_reports=1)
    for seq in range(1, 107):
        add(spool, seq)
    snapshot = spool.delivery_snapshot()
    assert snapshot.dropped_total == 105
    assert snapshot.dropped_seqs == list(range(6, 106))
    assert snapshot.spooled == 1


def test_rejected_is_moved_aside_and_counted_as_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for seq in (1, 2, 3):
        add(spool, seq)
    rejected = spool.entries()[1]
    spool.reject(rejected, "422 collected_at in the future")
    assert seqs(spool) == [1, 3]
    assert (tmp_path / "spool" / "rejected" / rejected.path.name).exists()
    snapshot = spool.delivery_snapshot()
    assert (snapshot.dropped_total, snapshot.dropped_seqs, snapshot.spooled) == (1, [2], 2)


def test_removed_entries_are_not_drops(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    add(spool, 1)
    spool.remove(spool.entries()[0])
    assert spool.entries() == []
    assert spool.delivery_snapshot().dropped_total == 0


def test_corrupt_entries_are_quarantined_and_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    add(spool, 1)
    directory = tmp_path / "spool"
    (directory / "000000000002-r2.json").write_text('{"payload": "trunc')
    (directory / "000000000003-r3.json").write_text('{"payload": 1, "signature": "x"}')
    (directory / "notes.txt").write_text("stray")
    add(spool, 4)
    assert seqs(spool) == [1, 4]
    corrupt = sorted(p.name for p in (directory / "corrupt").iterdir())
    assert corrupt == ["000000000002-r2.json", "000000000003-r3.json", "notes.txt"]
    snapshot = spool.delivery_snapshot()
    assert snapshot.dropped_total == 3
    assert snapshot.dropped_seqs == [2, 3]


def test_temp_files_from_a_crash_are_ignored_and_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    add(spool, 1)
    torn = tmp_path / "spool" / ".000000000002-r2.json.k3j4h5.tmp"
    torn.write_text('{"payload": "half a rep')
    assert seqs(spool) == [1]
    assert not torn.exists()
    assert spool.delivery_snapshot().dropped_total == 0  # never spooled, so never dropped


def test_a_damaged_delivery_document_reads_as_zero(tmp_path: Path) -> None:
    (tmp_path / f"{DELIVERY_DOCUMENT}.json").write_text(
        '{"dropped_total": "many", "dropped_seqs": [1, -2, true]}'
    )
    snapshot = Spool(tmp_path).delivery_snapshot()
    assert (snapshot.dropped_total, snapshot.dropped_seqs) == (0, [1])


def test_one_process_at_a_time(tmp_path: Path) -> None:
    with (
        Spool(tmp_path).exclusive(),
        pytest.raises(SpoolBusy, match="another rra agent run"),
        Spool(tmp_path).exclusive(),
    ):
        pass
    with Spool(tmp_path).exclusive():  # released on exit
        pass
