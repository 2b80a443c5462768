"""The host key: private to the host (0600), and signatures that cover exactly the bytes signed."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from rra.agent.identity import HostKey, IdentityError, key_path, verify_signature
from rra.checks.canonical import canonical_json

PAYLOAD = canonical_json({"report_id": "r1", "seq": 7, "host": "ünïcode-host", "score": 93.5})


def test_saved_key_is_mode_0600_and_loads_back(tmp_path: Path) -> None:
    key = HostKey.generate()
    path = key_path(tmp_path / "state")
    key.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert HostKey.load(path).public_key_b64 == key.public_key_b64


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    path = key_path(tmp_path)
    HostKey.generate().save(path)
    path.chmod(0o644)
    with pytest.raises(IdentityError, match="0600"):
        HostKey.load(path)


def test_missing_key_says_to_enroll(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="rra agent enroll"):
        HostKey.load(key_path(tmp_path))


def test_signature_verifies_for_the_exact_payload() -> None:
    key = HostKey.generate()
    assert verify_signature(key.public_key_b64, PAYLOAD, key.sign(PAYLOAD))


@pytest.mark.parametrize("bit", [0, 7, 8 * 20 + 3, 8 * len(PAYLOAD) - 1])
def test_one_flipped_bit_in_the_payload_fails(bit: int) -> None:
    key = HostKey.generate()
    signature = key.sign(PAYLOAD)
    tampered = bytearray(PAYLOAD)
    tampered[bit // 8] ^= 1 << (bit % 8)
    assert not verify_signature(key.public_key_b64, bytes(tampered), signature)


def test_another_keys_signature_fails() -> None:
    key, other = HostKey.generate(), HostKey.generate()
    assert not verify_signature(key.public_key_b64, PAYLOAD, other.sign(PAYLOAD))


def test_flipped_signature_and_garbage_fail_without_raising() -> None:
    key = HostKey.generate()
    raw = bytearray(base64.b64decode(key.sign(PAYLOAD)))
    raw[10] ^= 0x01
    flipped = base64.b64encode(bytes(raw)).decode()
    assert not verify_signature(key.public_key_b64, PAYLOAD, flipped)
    assert not verify_signature(key.public_key_b64, PAYLOAD, "not base64!")
    assert not verify_signature("AAAA", PAYLOAD, key.sign(PAYLOAD))
