"""A backup's environment file: storage-backend credentials for restic (s3, b2, azure, gs, swift).

systemd ``EnvironmentFile`` syntax (``KEY=value``, optional quotes, ``#`` comments, ``export``
allowed). Only backend variables are accepted; ``RESTIC_PASSWORD*`` and ``RESTIC_REPOSITORY*`` are
refused because the password travels only by file or command and the repository only by config.
Values never appear in errors, logs or reports.
"""

from __future__ import annotations

import re
import shlex

from rra.agent.host import Host
from rra.agent.restic.errors import ResticError

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ALLOWED_PREFIXES = ("AWS_", "B2_", "AZURE_", "GOOGLE_", "OS_", "ST_", "RCLONE_", "RESTIC_")
_ALLOWED_NAMES = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"})
_REFUSED_PREFIXES = ("RESTIC_PASSWORD", "RESTIC_REPOSITORY")


class EnvironmentFileError(ResticError):
    """The environment file cannot be used; the message names the file and line, never a value."""


def parse_environment(text: str, source: str) -> dict[str, str]:
    environment: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        where = f"{source}:{number}"
        if not sep or not _NAME.match(name):
            raise EnvironmentFileError(f"{where}: expected NAME=value")
        if name.startswith(_REFUSED_PREFIXES):
            raise EnvironmentFileError(
                f"{where}: {name} is not allowed here; the password goes in password_file or "
                "password_command and the repository in agent.toml"
            )
        if name not in _ALLOWED_NAMES and not name.startswith(_ALLOWED_PREFIXES):
            raise EnvironmentFileError(
                f"{where}: {name} is not a storage-backend variable "
                f"(allowed: {', '.join(p + '*' for p in _ALLOWED_PREFIXES)}, proxies)"
            )
        try:
            parts = shlex.split(value, comments=False, posix=True)
        except ValueError:
            raise EnvironmentFileError(
                f"{where}: unbalanced quotes in the value of {name}"
            ) from None
        environment[name] = " ".join(parts)
    return environment


def read_environment_file(host: Host, path: str) -> dict[str, str]:
    try:
        data = host.read_file(path)
    except PermissionError:
        raise EnvironmentFileError(
            f"{path}: permission denied reading the environment file"
        ) from None
    if data is None:
        raise EnvironmentFileError(f"{path}: environment file not found")
    return parse_environment(data.decode("utf-8", "replace"), path)
