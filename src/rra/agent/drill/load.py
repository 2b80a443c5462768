"""Load restore-drill playbooks (DESIGN §8) so that every error names file, line, column and field.

PyYAML first composes the node tree, which keeps each node's start mark, then constructs plain
data from that same tree for pydantic. A pydantic error ``loc`` such as
``("verify", 2, "manifest", "file")`` is walked back down the node tree to its line and column.
Only safe YAML is accepted: no Python tags.
"""

from __future__ import annotations

import difflib
import hashlib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml
from croniter import croniter
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from rra.checks.playbook import STEP_KINDS, Playbook

MAX_PLAYBOOK_BYTES: Final = 256 * 1024
# Aliases share nodes, so a few lines can expand to millions of nodes ("billion laughs") or to a
# cycle; the duplicate-key walk counts expanded nodes and gives up here, before pydantic sees it.
MAX_NODES: Final = 10_000

Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class PlaybookIssue:
    """One problem in a playbook; ``line``/``column`` are 1-based, None when not about a place."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str

    def as_dict(self) -> dict[str, int | str | None]:
        """The ``--json`` form (file is given once per playbook, beside the list)."""
        return {
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PlaybookError(Exception):
    """A playbook could not be loaded; ``errors`` lists every issue found, in file order."""

    def __init__(self, errors: list[PlaybookIssue]) -> None:
        super().__init__("\n".join(str(issue) for issue in errors))
        self.errors = errors


def playbook_sha256(text: str) -> str:
    """Hex SHA-256 of the playbook's UTF-8 bytes, identifying exactly what a drill ran."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_playbook(path: Path) -> Playbook:
    source = str(path)
    try:
        with path.open("rb") as handle:
            # Read one byte past the cap: enough to refuse a huge file (or /dev/zero) without
            # reading all of it.
            data = handle.read(MAX_PLAYBOOK_BYTES + 1)
    except OSError as exc:
        raise _error(source, None, f"cannot read the file: {exc.strerror or exc}") from None
    _check_size(len(data), source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", errors="replace")
        raise _error(source, _position(before), "not UTF-8 text") from None
    return parse_playbook(text, source)


def parse_playbook(text: str, source: str = "<playbook>") -> Playbook:
    """Parse and validate playbook YAML; raise ``PlaybookError`` listing every issue."""
    _check_size(len(text.encode("utf-8")), source)
    root, data, issues = _parse_yaml(text, source)
    playbook: Playbook | None = None
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        issues += [_validation_issue(error, root, source) for error in exc.errors()]
    issues += _cron_issues(data, root, source, issues)
    if issues or playbook is None:
        raise PlaybookError(sorted(issues, key=lambda i: (i.line or 0, i.column or 0)))
    return playbook


def _error(source: str, where: tuple[int, int] | None, message: str) -> PlaybookError:
    line, column = where if where else (None, None)
    return PlaybookError([PlaybookIssue(source, line, column, "", message)])


def _check_size(size: int, source: str) -> None:
    if size > MAX_PLAYBOOK_BYTES:
        limit = f"{MAX_PLAYBOOK_BYTES // 1024} KiB"
        raise _error(source, None, f"larger than {limit}; a playbook is a short YAML file")


def _position(before: str) -> tuple[int, int]:
    """1-based line and column of the character following ``before``."""
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _mark(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


# --- YAML ------------------------------------------------------------------------------------


def _parse_yaml(text: str, source: str) -> tuple[yaml.Node, Any, list[PlaybookIssue]]:
    try:
        loader = yaml.SafeLoader(text)  # checks for unprintable characters already
    except yaml.YAMLError as exc:
        raise PlaybookError([_yaml_issue(exc, text, source)]) from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise _error(source, (1, 1), "the playbook is empty")
        if not isinstance(root, yaml.MappingNode):
            message = "a playbook is a mapping of 'key: value' lines"
            raise _error(source, _mark(root.start_mark), message)
        issues = _duplicate_keys(root, source)
        return root, loader.construct_document(root), issues
    except yaml.YAMLError as exc:
        raise PlaybookError([_yaml_issue(exc, text, source)]) from None
    finally:
        loader.dispose()


def _yaml_issue(exc: yaml.YAMLError, text: str, source: str) -> PlaybookIssue:
    if isinstance(exc, yaml.reader.ReaderError):
        message = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        return PlaybookIssue(source, *_position(text[: exc.position]), "", message)
    if not isinstance(exc, yaml.MarkedYAMLError):
        return PlaybookIssue(source, None, None, "", str(exc))
    mark = exc.problem_mark or exc.context_mark
    line, column = _mark(mark) if mark else (None, None)
    if exc.context == "expected a single document in the stream":
        message = "a playbook file holds one YAML document, found a second one"
    else:
        message = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context:
            at = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
            message += f" ({exc.context}{at})"
    return PlaybookIssue(source, line, column, "", message)


def _duplicate_keys(root: yaml.Node, source: str) -> list[PlaybookIssue]:
    """PyYAML silently keeps the last of duplicate keys; a playbook must not hide a setting."""
    issues: dict[tuple[int, int], PlaybookIssue] = {}
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    count = 0
    while stack:
        node, path = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise _error(source, (1, 1), f"more than {MAX_NODES} YAML nodes (aliases expanded)")
        children: list[tuple[yaml.Node, Loc]] = []
        if isinstance(node, yaml.SequenceNode):
            children = [(item, (*path, i)) for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                name, where = str(key.value), _mark(key.start_mark)
                # `where` also dedupes: an aliased mapping is walked once per alias.
                if isinstance(key, yaml.ScalarNode) and name in seen and where not in issues:
                    field = ".".join(str(p) for p in (*path, name))
                    message = f"duplicate key (first at line {seen[name]})"
                    issues[where] = PlaybookIssue(source, *where, field, message)
                seen.setdefault(name, where[0])
                children.append((value, (*path, name)))
        stack.extend(reversed(children))  # depth-first in file order: the first path is named
    return list(issues.values())


def _locate(root: yaml.Node, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
    """Line/column of ``loc``, else of its nearest existing parent. A scalar points at its value;
    a mapping or list at the key holding it, since a block collection only starts a line later."""
    node, key = root, None
    for part in loc:
        child = _child(node, part)
        if child is None:
            at_key = False  # the key itself is missing: point at the parent, not a sibling
            break
        key, node = child
    if key is not None and (at_key or not isinstance(node, yaml.ScalarNode)):
        return _mark(key.start_mark)
    return _mark(node.start_mark)


def _child(node: yaml.Node, part: int | str) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        matches = [(k, v) for k, v in node.value if str(k.value) == str(part)]
        return matches[-1] if matches else None  # the constructed mapping kept the last one
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return None, node.value[part]
    return None


# --- validation messages ---------------------------------------------------------------------


def _validation_issue(error: ErrorDetails, root: yaml.Node, source: str) -> PlaybookIssue:
    loc: Loc = tuple(error["loc"])
    # A tagged union adds its tag to the path (verify.2.manifest.manifest.file); it repeats the key.
    if len(loc) >= 4 and loc[0] == "verify" and loc[2] in STEP_KINDS and loc[2] == loc[3]:
        loc = loc[:2] + loc[3:]
    line, column = _locate(root, loc, at_key=error["type"] == "extra_forbidden")
    field = ".".join(str(part) for part in loc)
    return PlaybookIssue(source, line, column, field, _message(error, loc))


def _message(error: ErrorDetails, loc: Loc) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return _unknown(f"unknown key {loc[-1]!r}", str(loc[-1]), _keys_at(loc[:-1]))
    if kind == "verify_step":
        if isinstance(value, dict) and len(value) > 1:
            keys = ", ".join(str(k) for k in value)
            got = f"got {len(value)} ({keys})"
            return f"a verify step has exactly one key, {got}; give each its own '- ' item"
        if isinstance(value, dict) and len(value) == 1:
            step = str(next(iter(value)))
            return _unknown(f"unknown verify step {step!r}", step, list(STEP_KINDS))
        return "a verify step is a one-key mapping such as '- files_min: 100'"
    message = error["msg"].removeprefix("Value error, ")
    if isinstance(value, str | int | float | bool | None) and "got " not in message:
        message += f", got {_yaml_scalar(value)}"
    if kind == "string_type" and value is not None:
        message += "; quote the value so YAML reads it as text"
    return message


def _yaml_scalar(value: str | float | bool | None) -> str:
    if value is None:
        return "null (an empty value)"
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _unknown(message: str, name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message}; expected one of: {', '.join(allowed)}" if allowed else message


def _keys_at(loc: Loc) -> list[str]:
    """The keys allowed in the mapping at ``loc``, found by walking the model's type hints."""
    hint: Any = Playbook
    for part in loc:
        if isinstance(part, int):
            args = typing.get_args(_strip(hint))
            hint = args[0] if args else None
        else:
            owner = next((m for m in _models(hint) if part in m.model_fields), None)
            hint = owner.model_fields[part].annotation if owner else None
    models = _models(hint)
    return sorted(models[0].model_fields) if len(models) == 1 else []


def _strip(hint: Any) -> Any:
    while typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    return hint


def _models(hint: Any) -> list[type[BaseModel]]:
    hint = _strip(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(hint) for m in _models(arg)]
    return [hint] if isinstance(hint, type) and issubclass(hint, BaseModel) else []


def _cron_issues(
    data: Any, root: yaml.Node, source: str, issues: list[PlaybookIssue]
) -> list[PlaybookIssue]:
    """The model only checks for five fields; croniter checks each field's values (strict: a
    day that never comes, like 31 February, is an error too)."""
    schedule = data.get("schedule") if isinstance(data, dict) else None
    if not isinstance(schedule, str) or any(i.field == "schedule" for i in issues):
        return []
    try:
        valid = croniter.is_valid(schedule, strict=True)
    except (ValueError, TypeError, KeyError, IndexError):  # croniter only catches its own errors
        valid = False
    if valid:
        return []
    line, column = _locate(root, ("schedule",))
    message = (
        f"not a valid cron expression {schedule!r}; expected minute hour day-of-month month "
        "day-of-week, e.g. '0 2 * * 6'"
    )
    return [PlaybookIssue(source, line, column, "schedule", message)]
