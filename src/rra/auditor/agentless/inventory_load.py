"""Load the agentless inventory (YAML, Ansible-like) so that every error names file, line and field.

Names and structure are read from the YAML nodes, so a host called ``007`` stays ``007`` rather
than becoming the integer 7, and every error has a position; values are what the safe constructor
made of the same nodes (``inventory_yaml``). Every problem found is collected before one
``InventoryError`` lists them all.
"""

from __future__ import annotations

import contextlib
import difflib
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from rra.auditor.agentless.inventory import (
    NAME_PATTERN,
    SECRET_KEYS,
    SECRETS_ADVICE,
    HostVars,
    Inventory,
    InventoryError,
    InventoryHost,
    InventoryIssue,
    ResolvedHostVars,
)
from rra.auditor.agentless.inventory_yaml import (
    Values,
    Where,
    at,
    check_size,
    compose,
    is_null,
    locate,
    node_issue,
    read_text,
)

GROUP_KEYS: Final = ("vars", "hosts", "children")
VAR_KEYS: Final = tuple(HostVars.model_fields)
PATH_KEYS: Final = ("key_file", "known_hosts", "ca_file", "agent_config")
# Ansible's names for the same settings: an Ansible user learns rra's name at once.
ANSIBLE_KEYS: Final = {
    "ansible_host": "address",
    "ansible_port": "port",
    "ansible_user": "user",
    "ansible_connection": "transport",
    "ansible_ssh_private_key_file": "key_file",
    "ansible_private_key_file": "key_file",
    "ansible_become": "become",
    "ansible_winrm_transport": "winrm_auth",
    "ansible_winrm_scheme": "winrm_scheme",
    "ansible_winrm_ca_trust_path": "ca_file",
    "ansible_winrm_server_cert_validation": "cert_validation",
}


def load_inventory(path: Path) -> Inventory:
    """Read and validate an inventory file; relative paths in it are relative to its folder."""
    return parse_inventory(read_text(path), str(path), path.absolute().parent)


def parse_inventory(
    text: str, source: str = "<inventory>", base_dir: Path | None = None
) -> Inventory:
    """Parse and validate inventory YAML; raise ``InventoryError`` listing every issue.

    Relative paths (``key_file``, ``known_hosts``, ``ca_file``, ``agent_config``) are resolved
    against ``base_dir``, by default the current directory.
    """
    check_size(len(text.encode("utf-8")), source)
    root, values, issues = compose(text, source)
    walk = _Walk(source, values, issues)
    walk.document(root)
    return walk.finish(root, base_dir or Path.cwd())


@dataclass
class _Entry:
    """A group or a host as the walk found it. ``links`` are a group's parents or a host's own
    groups, in the order the file names them."""

    name: str
    where: Where  # first mention
    path: str
    links: list[str] = field(default_factory=list)
    body: yaml.Node | None = None
    body_line: int = 0
    vars: dict[str, Any] = field(default_factory=dict)


class _Walk:
    def __init__(self, source: str, values: Values, issues: list[InventoryIssue]):
        self.source = source
        self.values = values
        self.issues = issues
        self.groups: dict[str, _Entry] = {}
        self.hosts: dict[str, _Entry] = {}
        self.checked: dict[yaml.Node, dict[str, Any]] = {}  # vars per node: aliases check once

    def issue(self, node: yaml.Node, path: str, message: str) -> None:
        self.issues.append(node_issue(self.source, node, path, message))

    def document(self, root: yaml.Node) -> None:
        if isinstance(root, yaml.MappingNode):
            for name, key, body in self.pairs(root, "", ""):
                self.group(name, key, body, None if name == "all" else "all", name)
        else:
            self.issue(root, "", "an inventory is a mapping of group names, usually just 'all:'")
        # 'all' exists even when the file names only other groups, and always comes first.
        self.groups = {"all": _Entry("all", at(root.start_mark), "all")} | self.groups

    def pairs(
        self, node: yaml.Node, path: str, shape: str
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """A mapping's (name, key, value) in file order; null is an empty mapping."""
        if is_null(node):
            return []
        if not isinstance(node, yaml.MappingNode):
            self.issue(node, path, shape)
            return []
        found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                found[key.value] = (key, value)  # the last of duplicates, as YAML (reported)
            else:
                self.issue(key, path, "a key must be plain text, not a list or mapping")
        return [(name, key, value) for name, (key, value) in found.items()]

    def group(
        self, name: str, key: yaml.Node, body: yaml.Node, parent: str | None, path: str
    ) -> None:
        if not self.valid_name(name, key, path, "group"):
            return
        group = self.groups.setdefault(name, _Entry(name, at(key.start_mark), path))
        if parent is not None and name == "all":
            self.issue(key, path, f"'all' holds every group; it cannot be a child of {parent!r}")
            return
        if parent is not None and parent not in group.links:
            group.links.append(parent)
        shape = "a group is a mapping with 'vars', 'hosts' and 'children' (or empty)"
        if not self.define(group, key, body, path, ("group", shape)):
            return
        for part, part_key, value in self.pairs(body, path, shape):
            where = f"{path}.{part}"
            if part == "vars":
                group.vars = self.vars(value, where)
            elif part == "hosts":
                self.host_list(value, name, where)
            elif part == "children":
                of_groups = "'children' is a mapping of group names, each a group or empty"
                for child, child_key, child_body in self.pairs(value, where, of_groups):
                    self.group(child, child_key, child_body, name, f"{where}.{child}")
            elif part in VAR_KEYS or part in ANSIBLE_KEYS or part.lower() in SECRET_KEYS:
                self.issue(part_key, where, f"unknown key {part!r}; variables go under 'vars:'")
            else:
                self.issue(part_key, where, _unknown(part, GROUP_KEYS))

    def host_list(self, node: yaml.Node, group: str, path: str) -> None:
        shape = "'hosts' is a mapping of host names, each 'name:' on its own line"
        host_shape = "a host's value is a mapping of its variables, or empty for membership only"
        for name, key, body in self.pairs(node, path, shape):
            where = f"{path}.{name}"
            if not self.valid_name(name, key, where, "host"):
                continue
            host = self.hosts.setdefault(name, _Entry(name, at(key.start_mark), where))
            if group not in host.links:
                host.links.append(group)
            if self.define(host, key, body, where, ("host", host_shape)):
                host.vars = self.vars(body, where)

    def define(
        self, entry: _Entry, key: yaml.Node, body: yaml.Node, path: str, what: tuple[str, str]
    ) -> bool:
        """Whether ``body`` is the entry's one definition, to be walked now. Only one place may
        give a host or group content; other places name it empty to add a membership."""
        kind, shape = what
        if is_null(body) or entry.body is body:  # the same anchored mapping via an alias
            return False
        if not isinstance(body, yaml.MappingNode):
            self.issue(body, path, shape)
            return False
        if entry.body is not None:
            role = "add it to another group" if kind == "host" else "make it a child elsewhere"
            message = (
                f"duplicate {kind} {entry.name!r} (first defined at line {entry.body_line}); "
                f"write just '{entry.name}:' to {role}"
            )
            self.issue(key, path, message)
            return False
        entry.body, entry.body_line = body, key.start_mark.line + 1
        return True

    def valid_name(self, name: str, key: yaml.Node, path: str, kind: str) -> bool:
        if NAME_PATTERN.fullmatch(name):
            return True
        message = (
            f"not a valid {kind} name {name!r}: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (at most 253 characters)"
        )
        self.issue(key, path, message)
        return False

    def vars(self, node: yaml.Node, path: str) -> dict[str, Any]:
        """The keys one level sets, validated; {} (with issues) when any is wrong."""
        if node in self.checked:
            return self.checked[node]
        given: dict[str, Any] = {}
        for name, key, value in self.pairs(node, path, "variables are a mapping of 'key: value'"):
            if name.lower() in SECRET_KEYS:
                self.issue(key, f"{path}.{name}", SECRETS_ADVICE)
            else:
                given[name] = self.values.get(value)
        try:
            parsed = HostVars.model_validate(given)
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                at_key = error["type"] == "extra_forbidden" or loc[-1:] == ("[key]",)
                if loc[-1:] == ("[key]",):  # pydantic's marker for a bad key of a dict
                    loc = loc[:-1]
                spot = locate(node, loc, at_key=at_key)
                self.issue(spot, ".".join([path, *map(str, loc)]), _describe(error))
            parsed = HostVars()
        self.checked[node] = {name: getattr(parsed, name) for name in parsed.model_fields_set}
        return self.checked[node]

    # --- after the walk ----------------------------------------------------------------------

    def finish(self, root: yaml.Node, base_dir: Path) -> Inventory:
        for name, entry in self.hosts.items():
            if name == "all":
                message = "'all' is the group of every host; a host cannot be called that"
            elif name in self.groups:
                line = self.groups[name].where[0]
                message = (
                    f"{name!r} is both a group (line {line}) and a host; a name is one or the other"
                )
            else:
                continue
            self.issues.append(InventoryIssue(self.source, *entry.where, entry.path, message))
        depths = self.depths()
        hosts: dict[str, InventoryHost] = {}
        if depths is not None:
            rank = {name: (depths[name], i) for i, name in enumerate(self.groups)}
            for name, entry in self.hosts.items():
                groups = sorted(self.ancestry(entry), key=rank.__getitem__)
                resolved = self.resolve(entry, groups, base_dir)
                if resolved is not None:
                    hosts[name] = InventoryHost(name, tuple(groups), resolved, entry.where[0])
        if not self.hosts and not self.issues:
            self.issue(root, "", "the inventory has no hosts")
        if self.issues:
            raise InventoryError(sorted(self.issues, key=lambda i: (i.line or 0, i.column or 0)))
        members: dict[str, list[str]] = {name: [] for name in self.groups}
        for found in hosts.values():
            for name in found.groups:
                members[name].append(found.name)
        return Inventory(self.source, hosts, {name: tuple(m) for name, m in members.items()})

    def depths(self) -> dict[str, int] | None:
        """Each group's depth below 'all' (the longest path, as Ansible counts), or None after
        reporting a cycle. Kahn's order, not recursion: a chain of groups may be long."""
        below: dict[str, list[str]] = {name: [] for name in self.groups}
        waiting = {name: len(entry.links) for name, entry in self.groups.items()}
        for name, entry in self.groups.items():
            for parent in entry.links:
                below[parent].append(name)
        depths, ready = {"all": 0}, ["all"]
        while ready:
            parent = ready.pop()
            for child in below[parent]:
                depths[child] = max(depths.get(child, 0), depths[parent] + 1)
                waiting[child] -= 1
                if not waiting[child]:
                    ready.append(child)
        stuck = {name for name, count in waiting.items() if count}
        if not stuck:
            return depths
        # Every stuck group has a stuck parent, so climbing parents must come round to a cycle.
        trail = [next(name for name in self.groups if name in stuck)]
        while (up := next(p for p in self.groups[trail[-1]].links if p in stuck)) not in trail:
            trail.append(up)
        cycle = [*reversed([*trail[trail.index(up) :], up])]  # parent to child, as written
        start = self.groups[cycle[0]]
        message = f"groups form a cycle through 'children': {' → '.join(cycle)}"
        self.issues.append(InventoryIssue(self.source, *start.where, start.path, message))
        return None

    def ancestry(self, host: _Entry) -> set[str]:
        found, todo = {"all"}, list(host.links)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.groups[name].links)
        return found

    def resolve(self, host: _Entry, groups: list[str], base_dir: Path) -> ResolvedHostVars | None:
        """Merge the levels, lowest first: groups shallow to deep, then the host. Labels merge
        key by key; every other setting is replaced whole."""
        merged: dict[str, Any] = {"address": host.name}
        labels: dict[str, str] = {}
        for level in [*(self.groups[name].vars for name in groups), host.vars]:
            labels.update(level.get("labels", {}))
            merged.update(level)
        merged["labels"] = labels
        for key in PATH_KEYS:
            if key in merged:
                merged[key] = _absolute(merged[key], base_dir)
        try:
            return ResolvedHostVars.model_validate(merged)
        except ValidationError as exc:  # each level was valid; only a combination can fail here
            for error in exc.errors():
                issue = InventoryIssue(self.source, *host.where, host.path, _describe(error))
                self.issues.append(issue)
            return None


# --- messages and paths ---------------------------------------------------------------------


def _describe(error: ErrorDetails) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        return _unknown(str(error["loc"][-1]), VAR_KEYS)
    message = error["msg"].removeprefix("Value error, ")
    if kind == "literal_error" and str(error["loc"][0]) in HostVars.model_fields:
        # pydantic's own wording lists the choices in an order that varies between runs.
        message = f"expected {' | '.join(_choices(str(error['loc'][0])))}"
    if isinstance(value, str | int | float) and "got " not in message:
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        message = f"{message}, got {shown}"
    if kind == "string_type":
        message += "; quote the value so YAML reads it as text"
    return message


def _choices(name: str) -> tuple[str, ...]:
    """The values a Literal-typed variable allows, in the order the model declares them."""
    hint = HostVars.model_fields[name].annotation
    return tuple(str(choice) for arg in typing.get_args(hint) for choice in typing.get_args(arg))


def _unknown(name: str, allowed: Sequence[str]) -> str:
    if name in ANSIBLE_KEYS:
        return f"unknown key {name!r}; rra calls it {ANSIBLE_KEYS[name]!r}"
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(allowed)}"
    return f"unknown key {name!r}; {hint}"


def _absolute(text: str, base_dir: Path) -> Path:
    path = Path(text)
    if text.startswith("~"):
        with contextlib.suppress(RuntimeError):  # no such user, or no home: keep it as written
            path = path.expanduser()
    return path if path.is_absolute() else base_dir / path
