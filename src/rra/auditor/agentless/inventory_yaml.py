"""The YAML side of loading an inventory: bytes to a checked node tree, and nodes to positions.

As for restore-drill playbooks (``rra.agent.drill.load``), PyYAML composes the node tree first,
which keeps each node's position, and constructs plain values from that same tree. Only safe YAML
is accepted (no Python tags), and the tree is checked before anything trusts it: its size with
aliases expanded (an alias bomb is measured, never expanded), recursive aliases and duplicate keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from rra.auditor.agentless.inventory import SECRETS_ADVICE, InventoryError, InventoryIssue

MAX_INVENTORY_BYTES: Final = 1024 * 1024
# Aliases share nodes, so a few lines can stand for billions of them ("billion laughs"). Counted
# with every alias expanded, even a 1 MiB inventory without aliases stays well below this.
MAX_EXPANDED_NODES: Final = 1_000_000
_NULL_TAG: Final = "tag:yaml.org,2002:null"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"

Where = tuple[int, int]
Values = dict[yaml.Node, Any]


def read_text(path: Path) -> str:
    """The file's text, refusing what cannot be an inventory before parsing any of it."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            # One byte past the cap is enough to refuse a huge file without reading all of it.
            data = handle.read(MAX_INVENTORY_BYTES + 1)
        check_size(len(data), source)
        return data.decode("utf-8")
    except OSError as exc:
        raise fail(source, None, f"cannot read the inventory: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        decoded = exc.object[: exc.start].decode("utf-8", errors="replace")
        raise fail(source, _line_col(decoded, len(decoded)), "not UTF-8 text") from None


def check_size(size: int, source: str) -> None:
    if size > MAX_INVENTORY_BYTES:
        raise fail(source, None, "larger than 1 MiB; an inventory is a short YAML file")


class _Loader(yaml.SafeLoader):
    """The safe loader, remembering what each node was constructed into."""

    def __init__(self, stream: str) -> None:
        self.values: Values = {}
        super().__init__(stream)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        value = super().construct_object(node, deep)
        self.values[node] = value
        return value


def compose(text: str, source: str) -> tuple[yaml.Node, Values, list[InventoryIssue]]:
    """The checked root node, what each node was constructed into, and the duplicate keys.

    Raises ``InventoryError`` for what stops reading altogether: bad YAML, an empty document, an
    alias bomb or a recursive alias.
    """
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader refuses unprintable characters here already
        root = loader.get_single_node()
        if root is None or is_null(root):
            raise fail(source, (1, 1), "the inventory is empty; it needs at least one host")
        if _expanded_size(root, source) > MAX_EXPANDED_NODES:
            limit = f"{MAX_EXPANDED_NODES:,}"
            raise fail(source, None, f"more than {limit} YAML nodes once aliases are expanded")
        # Before construction: constructing applies '<<' merges, whose keys are no duplicates.
        issues = _duplicate_keys(root, source)
        loader.construct_document(root)
        return root, loader.values, issues
    except yaml.YAMLError as exc:
        raise InventoryError([_syntax_issue(exc, text, source)]) from None
    except RecursionError:  # PyYAML composes recursively
        raise fail(source, None, "nested too deeply to be an inventory") from None
    finally:
        if loader is not None:
            loader.dispose()


def _syntax_issue(exc: yaml.YAMLError, text: str, source: str) -> InventoryIssue:
    if isinstance(exc, yaml.reader.ReaderError):
        message = f"character #x{exc.character:04x} is not allowed in YAML ({exc.reason})"
        return InventoryIssue(source, *_line_col(text, exc.position), "", message)
    if not isinstance(exc, yaml.MarkedYAMLError):
        return InventoryIssue(source, None, None, "", str(exc))
    mark = exc.problem_mark or exc.context_mark
    line, column = at(mark) if mark else (None, None)
    message = exc.problem or exc.context or "not valid YAML"
    if exc.context == "expected a single document in the stream":
        message = "an inventory is one YAML document; remove the second '---'"
    elif exc.problem and exc.context:
        since = f" that starts at line {exc.context_mark.line + 1}" if exc.context_mark else ""
        message = f"{message} ({exc.context}{since})"
    if "<block" in message:  # PyYAML's words for a line indented wrongly
        message += "; check the indentation"
    if "!vault" in message:  # Ansible Vault: a secret, even when encrypted
        message += f"; {SECRETS_ADVICE}"
    return InventoryIssue(source, line, column, "", message)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _expanded_size(root: yaml.Node, source: str) -> int:
    """Nodes in the document with every alias expanded, working on each distinct node once."""
    sizes: dict[yaml.Node, int] = {}
    entered: set[yaml.Node] = set()  # exactly the current path, since the walk is depth-first
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            entered.discard(node)
            total = 1 + sum(sizes[child] for child in _children(node))
            sizes[node] = min(total, MAX_EXPANDED_NODES + 1)
        elif node in entered:
            message = "an anchor's value contains an alias of itself"
            raise fail(source, at(node.start_mark), message)
        elif node not in sizes:
            entered.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return sizes[root]


def _duplicate_keys(root: yaml.Node, source: str) -> list[InventoryIssue]:
    """PyYAML keeps the last of duplicate keys without a word; an inventory must not hide a host
    or a setting that way. Each distinct node is checked once, however many aliases use it."""
    issues: list[InventoryIssue] = []
    done: set[yaml.Node] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if node in done:
            continue
        done.add(node)
        if isinstance(node, yaml.SequenceNode):
            items = [(item, join(path, i)) for i, item in enumerate(node.value)]
            stack.extend(reversed(items))
        if not isinstance(node, yaml.MappingNode):
            continue
        first_line: dict[str, int] = {}
        below: list[tuple[yaml.Node, str]] = []
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            below.append((value, join(path, name)))
            if key.tag == _MERGE_TAG or not isinstance(key, yaml.ScalarNode):
                continue  # several '<<' merges all apply; nothing is hidden
            if name in first_line:
                message = f"duplicate key (first at line {first_line[name]})"
                issues.append(node_issue(source, key, join(path, name), message))
            first_line.setdefault(name, key.start_mark.line + 1)
        stack.extend(reversed(below))  # depth-first in file order: issues come out in order
    return issues


def locate(node: yaml.Node, loc: Sequence[int | str], *, at_key: bool) -> yaml.Node:
    """The node a pydantic ``loc`` inside ``node`` is about: a scalar's value, otherwise the key
    holding it (a block mapping or list starts a line after its key); where part of ``loc`` does
    not exist, the nearest existing parent."""
    key: yaml.Node | None = None
    for part in loc:
        pairs: list[tuple[yaml.Node | None, yaml.Node]] = []
        if isinstance(node, yaml.MappingNode):
            pairs = [(k, v) for k, v in node.value if str(k.value) == str(part)]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            pairs = [(None, node.value[part])] if 0 <= part < len(node.value) else []
        if not pairs:
            at_key = False
            break
        key, node = pairs[-1]  # the last of duplicate keys is the one constructed
    # An empty value has no text of its own to point at: its key is where to look.
    on_key = at_key or not isinstance(node, yaml.ScalarNode) or is_null(node)
    return key if key is not None and on_key else node


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def join(path: str, part: str | int) -> str:
    return f"{path}.{part}" if path else str(part)


def at(mark: yaml.Mark) -> Where:
    """1-based line and column of a mark."""
    return mark.line + 1, mark.column + 1


def _line_col(text: str, index: int) -> Where:
    before = text[:index]
    return before.count("\n") + 1, index - before.rfind("\n")


def node_issue(source: str, node: yaml.Node, path: str, message: str) -> InventoryIssue:
    return InventoryIssue(source, *at(node.start_mark), path, message)


def fail(source: str, where: Where | None, message: str) -> InventoryError:
    line, column = where if where is not None else (None, None)
    return InventoryError([InventoryIssue(source, line, column, "", message)])
