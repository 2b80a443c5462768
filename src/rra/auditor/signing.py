"""The auditor's own Ed25519 key: it signs the drill results its worker produces for agentless
hosts (DESIGN §8: results are signed by their executor), as host keys sign agents' results.

Stored like a host key (PEM, mode 0600, via ``rra.agent.identity.HostKey``) at
``<data_dir>/keys/auditor-ed25519.key``; ``rra auditor init`` creates it, and the worker creates
it on first use if an older data dir lacks it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from rra.agent.identity import HostKey

KEY_DIR = "keys"
KEY_FILE = "auditor-ed25519.key"


def auditor_key_path(data_dir: Path) -> Path:
    return data_dir / KEY_DIR / KEY_FILE


def load_or_create_auditor_key(data_dir: Path) -> HostKey:
    """The data dir's auditor key, created when missing. Two processes creating it at once end
    up with the same key: the new file is linked into place only if nothing is there yet."""
    path = auditor_key_path(data_dir)
    if path.exists():
        return HostKey.load(path)  # refuses a key other users can read
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staged = path.with_name(f".{KEY_FILE}.{uuid.uuid4().hex}")
    HostKey.generate().save(staged)  # written whole, fsynced, mode 0600
    try:
        os.link(staged, path)
    except FileExistsError:
        pass  # another process won: use its key
    finally:
        staged.unlink(missing_ok=True)
    return HostKey.load(path)
