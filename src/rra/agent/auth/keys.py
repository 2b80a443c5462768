"""authorized_keys files: where sshd looks (AuthorizedKeysFile tokens) and what they hold.

A FIDO key (``sk-*``) whose use requires a PIN (``verify-required``, per key or through
``PubkeyAuthOptions``) is two authenticators in one: something held plus something known.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from rra.agent.host import Host

SK_PREFIX = "sk-"


def expand_tokens(pattern: str, user: str, home: str) -> str:
    """sshd's percent_expand for AuthorizedKeysFile: %h, %u, %U is not used for files, %%."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "%" and index + 1 < len(pattern):
            token = pattern[index + 1]
            out.append({"h": home, "u": user, "%": "%"}.get(token, "%" + token))
            index += 2
            continue
        out.append(char)
        index += 1
    path = "".join(out)
    # Relative paths are relative to the home directory.
    return path if path.startswith("/") else posixpath.join(home, path)


@dataclass(frozen=True)
class AuthorizedKey:
    key_type: str
    options: tuple[str, ...]

    @property
    def security_key(self) -> bool:
        return self.key_type.startswith(SK_PREFIX)

    @property
    def verify_required(self) -> bool:
        return "verify-required" in self.options


def _split_options(text: str) -> tuple[tuple[str, ...], str]:
    """Leading options (comma-separated, double quotes protect commas) and the remainder."""
    options: list[str] = []
    current: list[str] = []
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            quoted = not quoted
        elif char == "\\" and quoted and index + 1 < len(text):
            current.append(text[index + 1])
            index += 2
            continue
        elif char == "," and not quoted:
            options.append("".join(current))
            current = []
            index += 1
            continue
        elif char in " \t" and not quoted:
            options.append("".join(current))
            return tuple(o.lower() for o in options), text[index:].strip()
        current.append(char)
        index += 1
    options.append("".join(current))
    return tuple(o.lower() for o in options), ""


_KEY_TYPES = (
    "ssh-",
    "ecdsa-",
    "sk-",
    "rsa-",
)


def parse_authorized_keys(text: str) -> list[AuthorizedKey]:
    keys: list[AuthorizedKey] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        first = line.split(None, 1)[0]
        if first.startswith(_KEY_TYPES):
            keys.append(AuthorizedKey(first, ()))
            continue
        options, rest = _split_options(line)
        parts = rest.split()
        if parts and parts[0].startswith(_KEY_TYPES):
            keys.append(AuthorizedKey(parts[0], options))
    return keys


@dataclass
class KeysRead:
    keys: list[AuthorizedKey] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # unreadable files
    home: str = "/"

    @property
    def admin_managed(self) -> bool:
        """Every file lies outside the home directory, where the user cannot add a key.

        (Ownership is not visible through every transport; the home directory is the user's.)
        """
        home = self.home.rstrip("/") + "/"
        return bool(self.files) and all(not f.startswith(home) for f in self.files)


def read_authorized_keys(host: Host, patterns: list[str], user: str, home: str) -> KeysRead:
    result = KeysRead(home=home)
    for pattern in patterns:
        if pattern.lower() == "none":
            continue
        path = expand_tokens(pattern, user, home)
        try:
            raw = host.read_file(path)
        except PermissionError:
            result.problems.append(f"{path}: permission denied")
            continue
        except OSError as exc:
            result.problems.append(f"{path}: {exc.strerror or exc}")
            continue
        if raw is None:
            continue
        result.files.append(path)
        result.keys.extend(parse_authorized_keys(raw.decode("utf-8", "replace")))
    return result
