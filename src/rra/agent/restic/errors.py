"""Typed restic failures, and the one mapping from (exit code, stderr) to them.

restic 0.14 (Debian 12) exits 1 for a missing repository, a wrong password and a lock held by
someone else alike, so those are told apart by restic's own stderr. restic 0.17+ has dedicated
exit codes (10 no repository, 11 lock failed, 12 wrong password, 3 partial backup) and, with
``--json``, writes ``{"message_type": "exit_error", "code": N, "message": "..."}`` on stderr.
Codes this module does not know are failures (restic's own scripting guide says so).
"""

from __future__ import annotations

import json
import re

from rra.agent.restic.jsonlines import last_message

#: Longest message kept from restic's stderr (it ends up in facts and reports).
MAX_MESSAGE = 2000
#: How many informative lines before the ``Fatal:`` line are kept as context.
_CONTEXT_LINES = 5

# Status lines restic prints on stderr while working: not part of an error message.
_NOISE = re.compile(
    r"^(\[\d+:\d+(:\d+)?\]"  # progress: "[0:00] 100.00%  1 / 1 snapshots"
    r"|using temporary cache in "
    r"|create exclusive lock for repository"
    r"|load indexes"
    r"|check all packs"
    r"|check snapshots, trees and blobs"
    r"|read all data"
    r"|read group #"
    r"|read \d+(\.\d+)?% of data packs"
    r"|no errors were found"
    r"|repository [0-9a-f]+ opened"
    r"|created new cache in "
    r"|reading repository password from stdin"
    r")"
)


class ResticError(Exception):
    """restic could not do what was asked. ``message`` is restic's own text (trimmed)."""

    def __init__(self, message: str, *, rc: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rc = rc


class RepositoryNotFound(ResticError):
    """No repository at the location (or the location could not be reached at all)."""


class WrongPassword(ResticError):
    """The password does not open any key of the repository."""


class RepositoryLocked(ResticError):
    """Another process holds a conflicting lock (a running backup or prune, or a stale lock)."""


class ResticNotInstalled(ResticError):
    """The restic binary does not exist on the host."""


class ResticTimeout(ResticError):
    """restic ran longer than the configured limit and was stopped."""


class ResticFailed(ResticError):
    """restic exited non-zero for any other reason (including exit codes unknown to us)."""


class ResticOutputError(ResticError):
    """restic succeeded but printed something we cannot read (format change, truncation)."""


def _exit_error_message(lines: list[str]) -> str | None:
    """restic 0.17+ ``--json``: the ``exit_error`` object's message, if one was printed."""
    message = (last_message(lines, "exit_error") or {}).get("message")
    return message.strip() if isinstance(message, str) and message.strip() else None


def _json_error_messages(lines: list[str]) -> list[str]:
    """restic 0.17+ ``--json`` error objects on stderr (``message_type: "error"``)."""
    messages: list[str] = []
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict) or obj.get("message_type") != "error":
            continue
        text = obj.get("message")
        if not isinstance(text, str):
            inner = obj.get("error")
            text = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(text, str) and text.strip():
            messages.append(text.strip())
    return messages


def _trim(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1].rstrip() + "…"
    return text


def error_message(stderr: str, stdout: str = "") -> str:
    """restic's own explanation of a failure, trimmed: the ``Fatal:`` line (and restic's hint
    lines after it) first, then up to five informative lines printed before it as context.
    Without a ``Fatal:`` line, the informative stderr lines. Progress chatter is dropped."""
    lines = [line.rstrip() for line in stderr.replace("\r", "\n").splitlines()]
    lines = [line for line in lines if line.strip()]
    exit_error = _exit_error_message(lines)
    json_errors = _json_error_messages(lines)
    text_lines = [ln for ln in lines if not ln.startswith("{") and not _NOISE.match(ln.strip())]
    if exit_error is not None:
        context = json_errors + text_lines
        return _trim("\n".join([exit_error, *context[-_CONTEXT_LINES:]]))
    fatal_at = next((i for i, ln in enumerate(text_lines) if ln.startswith("Fatal:")), None)
    if fatal_at is not None:
        before = json_errors + text_lines[:fatal_at]
        return _trim("\n".join(text_lines[fatal_at:] + before[-_CONTEXT_LINES:]))
    informative = json_errors + text_lines
    if informative:
        return _trim("\n".join(informative[-(_CONTEXT_LINES * 2) :]))
    fallback = [ln for ln in stdout.splitlines() if ln.strip()][-3:]
    return _trim("\n".join(fallback)) if fallback else "restic printed no error message"


_NOT_FOUND = (
    "Is there a repository at the following location?",
    "repository does not exist",
)
_NOT_FOUND_CONFIG = re.compile(r"unable to open config file: .*(no such file|not exist)", re.I)
_WRONG_PASSWORD = "wrong password or no key found"  # noqa: S105 - restic's message, not a secret
_LOCKED = ("repository is already locked", "unable to create lock")


def classify_failure(rc: int, stderr: str, stdout: str = "") -> ResticError:
    """The typed error for a restic run that exited ``rc`` (non-zero)."""
    message = error_message(stderr, stdout)
    if rc == 10:
        return RepositoryNotFound(message, rc=rc)
    if rc == 11:
        return RepositoryLocked(message, rc=rc)
    if rc == 12:
        return WrongPassword(message, rc=rc)
    if rc == 1:
        # restic 0.14-0.16: one exit code for everything; restic's text says which.
        if _WRONG_PASSWORD in stderr:
            return WrongPassword(message, rc=rc)
        if any(marker in stderr for marker in _LOCKED):
            return RepositoryLocked(message, rc=rc)
        if any(marker in stderr for marker in _NOT_FOUND) or _NOT_FOUND_CONFIG.search(stderr):
            return RepositoryNotFound(message, rc=rc)
    if rc == 3:
        message = f"incomplete: {message}"
    return ResticFailed(message, rc=rc)
