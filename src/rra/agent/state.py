"""The agent's own state directory: small JSON documents written atomically (temp + fsync + rename)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` so that readers see the old file or the new one, never a torn mix."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        Path(tmp_name).chmod(mode)
        Path(tmp_name).replace(path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)


class StateStore:
    """Named JSON documents under the state dir. A corrupt document reads as absent, never crashes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"invalid state document name {name!r}")
        return self.directory / f"{name}.json"

    def load(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads(self._path(name).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, name: str, document: dict[str, Any]) -> None:
        encoded = json.dumps(document, indent=2, sort_keys=True, default=str).encode("utf-8")
        atomic_write_bytes(self._path(name), encoded)

    def next_seq(self) -> int:
        """The next report sequence number: monotonic per host identity, persisted before use."""
        identity = self.load("identity")
        current = identity.get("seq", 0)
        seq = current + 1 if isinstance(current, int) else 1
        identity["seq"] = seq
        self.save("identity", identity)
        return seq
