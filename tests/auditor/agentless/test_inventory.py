"""The agentless inventory: precedence, defaults, paths, errors that name the line, --limit."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rra.agent.drill.load import PlaybookIssue
from rra.auditor.agentless.inventory import (
    Inventory,
    InventoryError,
    InventoryIssue,
    ResolvedHostVars,
    select_hosts,
)
from rra.auditor.agentless.inventory_load import load_inventory, parse_inventory
from rra.auditor.agentless.inventory_yaml import MAX_INVENTORY_BYTES

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "inventory.yaml"
SECRETS = (
    "secrets never go in the inventory — use password_env with the NAME of an environment "
    "variable that holds the password"
)

# Line numbers in the tests refer to this text; cases replace a line or append from line 21 on.
BASE = """\
all:
  vars:
    user: rra-audit
    key_file: keys/collector
    labels: {env: prod, tier: gold}
  children:
    finance:
      vars: {org: mof/finance, criticality: high, become: true, labels: {tier: silver}}
      hosts:
        fin-db1: {address: 10.20.0.5}
      children:
        finance_db:
          vars: {criticality: low, connect_timeout: 5}
          hosts:
            fin-db2: {address: 10.20.0.7, criticality: medium, labels: {tier: bronze}}
    windows:
      vars: {transport: winrm, password_env: RRA_WINRM_PASSWORD, org: mof/it}
      hosts:
        dc1: {address: 10.20.1.2}
        fin-db2:
"""

Problem = tuple[int | None, int | None, str, str]


def write(tmp_path: Path, text: str, name: str = "inventory.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> Inventory:
    return load_inventory(write(tmp_path, text))


def problems(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, text)
    assert all(issue.file == str(tmp_path / "inventory.yaml") for issue in caught.value.issues)
    return [(i.line, i.column, i.field, i.message) for i in caught.value.issues]


def only_problem(tmp_path: Path, text: str) -> Problem:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def column(text: str, line: int, fragment: str) -> int:
    """1-based column of ``fragment`` on 1-based ``line`` of ``text``."""
    return text.splitlines()[line - 1].index(fragment) + 1


def replace_line(line: int, new: str) -> str:
    lines = BASE.splitlines(keepends=True)
    lines[line - 1] = new + "\n"
    return "".join(lines)


# --- a valid inventory -----------------------------------------------------------------------


def test_precedence_all_then_groups_shallow_to_deep_then_host(tmp_path: Path) -> None:
    inventory = load(tmp_path, BASE)
    assert list(inventory.hosts) == ["fin-db1", "fin-db2", "dc1"]

    db1 = inventory.hosts["fin-db1"]
    assert db1.groups == ("all", "finance")
    assert db1.line == 10
    assert (db1.vars.user, db1.vars.org, db1.vars.criticality) == (
        "rra-audit",
        "mof/finance",
        "high",
    )
    assert db1.vars.labels == {"env": "prod", "tier": "silver"}
    assert db1.vars.become is True

    # In three groups: same depth in file order (finance, windows), then the deeper finance_db.
    db2 = inventory.hosts["fin-db2"]
    assert db2.groups == ("all", "finance", "windows", "finance_db")
    assert db2.line == 15
    assert db2.vars.transport == "winrm"  # windows
    assert db2.vars.org == "mof/it"  # windows is read after finance at the same depth
    assert db2.vars.connect_timeout == 5  # finance_db
    assert db2.vars.criticality == "medium"  # the host's own beats finance_db's "low"
    assert db2.vars.labels == {"env": "prod", "tier": "bronze"}  # merged, deepest wins
    assert db2.vars.become is True


def test_groups_list_hosts_of_child_groups_in_file_order(tmp_path: Path) -> None:
    inventory = load(tmp_path, BASE)
    assert inventory.source == str(tmp_path / "inventory.yaml")
    assert inventory.groups == {
        "all": ("fin-db1", "fin-db2", "dc1"),
        "finance": ("fin-db1", "fin-db2"),
        "finance_db": ("fin-db2",),
        "windows": ("fin-db2", "dc1"),
    }


def test_top_level_groups_are_children_of_all(tmp_path: Path) -> None:
    text = "lab:\n  vars: {org: lab}\n  hosts:\n    t1:\nall:\n  vars: {user: a}\n"
    host = load(tmp_path, text).hosts["t1"]
    assert host.groups == ("all", "lab")
    assert (host.vars.user, host.vars.org) == ("a", "lab")


def test_defaults_per_transport(tmp_path: Path) -> None:
    text = """\
all:
  hosts:
    s1:
    w1: {transport: winrm}
    w2: {transport: winrm, winrm_scheme: http}
    w3: {transport: winrm, winrm_scheme: http, port: 8080}
    me: {transport: local}
"""
    hosts = load(tmp_path, text).hosts
    assert {name: host.vars.port for name, host in hosts.items()} == {
        "s1": 22,
        "w1": 5986,
        "w2": 5985,
        "w3": 8080,
        "me": None,
    }
    assert hosts["s1"].vars == ResolvedHostVars(
        transport="ssh",
        address="s1",
        port=22,
        user=None,
        key_file=None,
        known_hosts=None,
        host_key_policy="reject",
        become=False,
        password_env=None,
        winrm_auth="ntlm",
        winrm_scheme="https",
        ca_file=None,
        cert_validation=True,
        org=None,
        criticality="medium",
        labels={},
        bastions=(),
        timeout=None,
        connect_timeout=10,
        probe=False,
        agent_config=None,
    )


def test_every_setting_is_read(tmp_path: Path) -> None:
    text = """\
all:
  hosts:
    h1:
      address: 192.0.2.9
      port: 2200
      user: audit
      key_file: /k/id
      known_hosts: /k/known
      host_key_policy: trust_on_first_use
      become: true
      password_env: PW
      winrm_auth: kerberos
      winrm_scheme: http
      ca_file: /k/ca.pem
      cert_validation: false
      org: mof/finance
      criticality: low
      labels: {a: b}
      bastions: [10.0.5.10, 10.0.5.0/28, 2001:db8::/32, 10.0.6.1/24]
      timeout: 60.5
      connect_timeout: 3
      probe: true
      agent_config: /k/agent.toml
"""
    got = load(tmp_path, text).hosts["h1"].vars
    assert got.model_dump(exclude={"bastions"}) == {
        "transport": "ssh",
        "address": "192.0.2.9",
        "port": 2200,
        "user": "audit",
        "key_file": Path("/k/id"),
        "known_hosts": Path("/k/known"),
        "host_key_policy": "trust_on_first_use",
        "become": True,
        "password_env": "PW",
        "winrm_auth": "kerberos",
        "winrm_scheme": "http",
        "ca_file": Path("/k/ca.pem"),
        "cert_validation": False,
        "org": "mof/finance",
        "criticality": "low",
        "labels": {"a": "b"},
        "timeout": 60.5,
        "connect_timeout": 3,
        "probe": True,
        "agent_config": Path("/k/agent.toml"),
    }
    assert got.bastions == tuple(
        ipaddress.ip_network(n)
        for n in ("10.0.5.10/32", "10.0.5.0/28", "2001:db8::/32", "10.0.6.0/24")
    )
    assert got.model_dump(mode="json")["bastions"][0] == "10.0.5.10/32"


def test_relative_paths_resolve_against_the_inventory_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/home/auditor")
    text = """\
all:
  vars: {key_file: keys/id, known_hosts: ../known_hosts, agent_config: /etc/rra/agent.toml}
  hosts:
    h1: {ca_file: ca.pem}
    h2: {key_file: ~/.ssh/id_ed25519}
"""
    (tmp_path / "inv").mkdir()
    hosts = load_inventory(write(tmp_path / "inv", text)).hosts
    assert hosts["h1"].vars.key_file == tmp_path / "inv" / "keys" / "id"
    assert hosts["h1"].vars.known_hosts == tmp_path / "inv" / ".." / "known_hosts"
    assert hosts["h1"].vars.ca_file == tmp_path / "inv" / "ca.pem"
    assert hosts["h1"].vars.agent_config == Path("/etc/rra/agent.toml")
    assert hosts["h2"].vars.key_file == Path("/home/auditor/.ssh/id_ed25519")


def test_a_relative_inventory_path_still_gives_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "all:\n  hosts:\n    h1: {key_file: id}\n")
    monkeypatch.chdir(tmp_path)
    assert load_inventory(Path("inventory.yaml")).hosts["h1"].vars.key_file == tmp_path / "id"


def test_parse_resolves_against_base_dir_else_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "all:\n  hosts:\n    h1: {key_file: id}\n"
    assert parse_inventory(text, base_dir=Path("/srv")).hosts["h1"].vars.key_file == Path("/srv/id")
    monkeypatch.chdir(tmp_path)
    assert parse_inventory(text).hosts["h1"].vars.key_file == tmp_path / "id"


def test_names_come_from_the_text_not_the_yaml_type(tmp_path: Path) -> None:
    text = "all:\n  hosts:\n    007:\n    10.0.0.1:\n    yes:\n"
    assert list(load(tmp_path, text).hosts) == ["007", "10.0.0.1", "yes"]


def test_merge_keys_and_aliases(tmp_path: Path) -> None:
    text = """\
all:
  children:
    a:
      hosts:
        h1: &base {port: 2222, user: ops}
        h2: {<<: *base, port: 22}
    b:
      hosts:
        h1: *base
"""
    hosts = load(tmp_path, text).hosts
    assert (hosts["h1"].vars.port, hosts["h2"].vars.port, hosts["h2"].vars.user) == (
        2222,
        22,
        "ops",
    )
    assert hosts["h1"].groups == ("all", "a", "b")  # the same mapping twice is not a duplicate


def test_the_example_inventory_loads() -> None:
    inventory = load_inventory(EXAMPLE)
    hosts = inventory.hosts
    assert len(hosts) >= 6
    windows = [h for h in hosts.values() if h.vars.transport == "winrm"]
    assert windows
    assert all(h.vars.password_env and h.vars.port == 5986 for h in windows)
    assert any(h.vars.become and h.vars.org == "mof/finance" for h in hosts.values())
    assert any(name.startswith("province") for name in inventory.groups)
    assert select_hosts(inventory, "finance:&linux")


# --- errors ----------------------------------------------------------------------------------


ALIAS_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
)

# (text, (line, column, field, message)): inventories with exactly one problem.
ONE_PROBLEM = {
    "unknown key, suggestion": (
        replace_line(10, "        fin-db1: {adress: 10.20.0.5}"),
        (
            10,
            19,
            "all.children.finance.hosts.fin-db1.adress",
            "unknown key 'adress'; did you mean 'address'?",
        ),
    ),
    "Ansible's name": (
        replace_line(10, "        fin-db1: {ansible_host: 10.20.0.5}"),
        (
            10,
            19,
            "all.children.finance.hosts.fin-db1.ansible_host",
            "unknown key 'ansible_host'; rra calls it 'address'",
        ),
    ),
    "unknown group key": (
        replace_line(9, "      host:\n        fin-db0:"),
        (9, 7, "all.children.finance.host", "unknown key 'host'; did you mean 'hosts'?"),
    ),
    "variable beside vars": (
        replace_line(8, "      org: mof/finance"),
        (8, 7, "all.children.finance.org", "unknown key 'org'; variables go under 'vars:'"),
    ),
    "secret beside vars": (
        replace_line(8, "      password: x"),
        (
            8,
            7,
            "all.children.finance.password",
            "unknown key 'password'; variables go under 'vars:'",
        ),
    ),
    "duplicate key": (
        replace_line(3, "    user: rra-audit\n    user: root"),
        (4, 5, "all.vars.user", "duplicate key (first at line 3)"),
    ),
    "duplicate host": (
        replace_line(19, "        dc1: {address: 10.20.1.2}\n        fin-db1: {port: 22}"),
        (
            20,
            9,
            "all.children.windows.hosts.fin-db1",
            "duplicate host 'fin-db1' (first defined at line 10); write just 'fin-db1:' to add it to another group",
        ),
    ),
    "duplicate group": (
        BASE + "    finance_db:\n      hosts: {x1: }\n",
        (
            21,
            5,
            "all.children.finance_db",
            "duplicate group 'finance_db' (first defined at line 12); write just 'finance_db:' to make it a child elsewhere",
        ),
    ),
    "group and host": (
        replace_line(19, "        finance:"),
        (
            19,
            9,
            "all.children.windows.hosts.finance",
            "'finance' is both a group (line 7) and a host; a name is one or the other",
        ),
    ),
    "Ansible Vault": (
        replace_line(3, "    user: !vault |\n      $ANSIBLE_VAULT;1.1;AES256"),
        (3, 11, "", f"could not determine a constructor for the tag '!vault'; {SECRETS}"),
    ),
    "YAML syntax": (
        replace_line(17, "      vars: {transport: winrm, password_env: RRA_WINRM_PASSWORD"),
        (
            18,
            12,
            "",
            "expected ',' or '}', but got ':' (while parsing a flow mapping that starts at line 17)",
        ),
    ),
    "indentation": (
        replace_line(4, "   key_file: keys/collector"),
        (
            4,
            4,
            "",
            "expected <block end>, but found '<block mapping start>' (while parsing a block mapping that starts at line 2); check the indentation",
        ),
    ),
    "second document": (
        BASE + "---\nall: {}\n",
        (21, 1, "", "an inventory is one YAML document; remove the second '---'"),
    ),
    "alias bomb": (
        ALIAS_BOMB,
        (None, None, "", "more than 1,000,000 YAML nodes once aliases are expanded"),
    ),
    "recursive alias": (
        "all: &loop\n  children:\n    g: *loop\n",
        (1, 6, "", "an anchor's value contains an alias of itself"),
    ),
    "no hosts": (
        "all:\n  vars: {user: a}\n  children:\n    g:\n",
        (1, 1, "", "the inventory has no hosts"),
    ),
    "not a mapping": (
        "- a\n- b\n",
        (1, 1, "", "an inventory is a mapping of group names, usually just 'all:'"),
    ),
    "group cycle": (
        "all:\n  children:\n    a:\n      hosts: {h: }\n      children:\n        b:\n          children:\n            a:\n",
        (3, 5, "all.children.a", "groups form a cycle through 'children': a → b → a"),
    ),
    "all as a child": (
        "all:\n  hosts: {h: }\n  children:\n    g:\n      children:\n        all:\n",
        (
            6,
            9,
            "all.children.g.children.all",
            "'all' holds every group; it cannot be a child of 'g'",
        ),
    ),
    "a host called all": (
        "all:\n  hosts:\n    all:\n    h:\n",
        (3, 5, "all.hosts.all", "'all' is the group of every host; a host cannot be called that"),
    ),
}


@pytest.mark.parametrize(("text", "expected"), ONE_PROBLEM.values(), ids=ONE_PROBLEM)
def test_one_problem(tmp_path: Path, text: str, expected: Problem) -> None:
    assert only_problem(tmp_path, text) == expected


def test_unknown_key_without_a_near_match_lists_the_keys(tmp_path: Path) -> None:
    text = replace_line(3, "    zzz: 1")
    line, _, field, message = only_problem(tmp_path, text)
    assert (line, field) == (3, "all.vars.zzz")
    assert message.startswith("unknown key 'zzz'; expected one of: transport, address, port,")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "Input should be greater than or equal to 1, got 0"),
        ("70000", "Input should be less than or equal to 65535, got 70000"),
        ("abc", "Input should be a valid integer, got 'abc'"),
        ("ssh", "Input should be a valid integer, got 'ssh'"),
        ('"22"', "Input should be a valid integer, got '22'"),
        ("true", "Input should be a valid integer, got true"),
        ("", "empty value; give a value or remove the key"),
    ],
)
def test_bad_ports(tmp_path: Path, value: str, message: str) -> None:
    text = replace_line(10, f"        fin-db1:\n          port: {value}")
    assert only_problem(tmp_path, text) == (
        11,
        column(text, 11, value) if value else 11,  # an empty value: its key
        "all.children.finance.hosts.fin-db1.port",
        message,
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("transport: telnet", "expected ssh | winrm | local, got 'telnet'"),
        (
            "org: MoF/Finance",
            "expected an org path of lower-case segments separated by '/', e.g. mof/finance, "
            "got 'MoF/Finance'",
        ),
        (
            "password_env: winrm_pw",
            "expected the NAME of an environment variable (A-Z, 0-9 and _), e.g. "
            "RRA_WINRM_PASSWORD, got 'winrm_pw'",
        ),
        ("criticality: urgent", "expected high | medium | low, got 'urgent'"),
        ("become: 'yes'", "Input should be a valid boolean, got 'yes'"),
        ("timeout: 0", "Input should be greater than 0, got 0"),
        ("connect_timeout: .inf", "Input should be a finite number, got inf"),
        (
            "user: 1000",
            "Input should be a valid string, got 1000; quote the value so YAML reads it as text",
        ),
        ("address: 'db 1'", "expected a host name or IP address, without spaces, got 'db 1'"),
        ("host_key_policy: accept", "expected reject | trust_on_first_use, got 'accept'"),
    ],
)
def test_bad_values(tmp_path: Path, setting: str, message: str) -> None:
    text = replace_line(10, f"        fin-db1:\n          {setting}")
    key = setting.split(":")[0]
    assert only_problem(tmp_path, text) == (
        11,
        column(text, 11, setting.split(": ")[1]),
        f"all.children.finance.hosts.fin-db1.{key}",
        message,
    )


def test_bad_bastion_names_the_item(tmp_path: Path) -> None:
    text = replace_line(
        10,
        "        fin-db1:\n          bastions:\n            - 10.0.0.1\n            - 10.0.0.300/24",
    )
    assert only_problem(tmp_path, text) == (
        13,
        15,
        "all.children.finance.hosts.fin-db1.bastions.1",
        "not an IP address or network (CIDR) such as 10.0.5.0/28, got '10.0.0.300/24'",
    )


def test_bad_label_value_and_key(tmp_path: Path) -> None:
    text = replace_line(5, "    labels: {floor: 3, 2024: x}")
    assert problems(tmp_path, text) == [
        (
            5,
            21,
            "all.vars.labels.floor",
            "Input should be a valid string, got 3; quote the value so YAML reads it as text",
        ),
        (
            5,
            24,
            "all.vars.labels.2024",
            "Input should be a valid string, got 2024; quote the value so YAML reads it as text",
        ),
    ]


@pytest.mark.parametrize(
    "key", ["password", "ansible_password", "ansible_ssh_pass", "Password", "ansible_become_pass"]
)
def test_secrets_are_refused(tmp_path: Path, key: str) -> None:
    text = replace_line(10, f"        fin-db1: {{address: 10.20.0.5, {key}: hunter2}}")
    assert only_problem(tmp_path, text) == (
        10,
        column(text, 10, key),
        f"all.children.finance.hosts.fin-db1.{key}",
        SECRETS,
    )


@pytest.mark.parametrize("name", ["bad name", "-lead", "x" * 254, "a/b"])
def test_bad_host_names(tmp_path: Path, name: str) -> None:
    text = replace_line(19, f"        '{name}':")
    assert only_problem(tmp_path, text) == (
        19,
        9,
        f"all.children.windows.hosts.{name}",
        f"not a valid host name {name!r}: use letters, digits, '.', '_' and '-', "
        "starting with a letter or digit (at most 253 characters)",
    )


def test_oversize_file(tmp_path: Path) -> None:
    text = BASE + "#" * (MAX_INVENTORY_BYTES - len(BASE) + 1)
    assert only_problem(tmp_path, text) == (
        None,
        None,
        "",
        "larger than 1 MiB; an inventory is a short YAML file",
    )
    with pytest.raises(InventoryError, match="larger than 1 MiB"):
        parse_inventory(text)


def test_exactly_one_mib_is_accepted(tmp_path: Path) -> None:
    text = BASE + "#" * (MAX_INVENTORY_BYTES - len(BASE))
    assert len(load(tmp_path, text).hosts) == 3


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_inventory(tmp_path: Path, text: str) -> None:
    assert only_problem(tmp_path, text) == (
        1,
        1,
        "",
        "the inventory is empty; it needs at least one host",
    )


def test_wrong_shapes(tmp_path: Path) -> None:
    text = "all:\n  vars: [a]\n  hosts:\n    h: 5\n  children: [g]\n"
    assert problems(tmp_path, text) == [
        (2, 9, "all.vars", "variables are a mapping of 'key: value'"),
        (
            4,
            8,
            "all.hosts.h",
            "a host's value is a mapping of its variables, or empty for membership only",
        ),
        (5, 13, "all.children", "'children' is a mapping of group names, each a group or empty"),
    ]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(tmp_path / "nope.yaml")
    assert [str(i) for i in caught.value.issues] == [
        f"{tmp_path / 'nope.yaml'}: cannot read the inventory: No such file or directory"
    ]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_bytes(b"all:\n  hosts:\n    caf\xe9:\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert [(i.line, i.column, i.message) for i in caught.value.issues] == [
        (3, 8, "not UTF-8 text")
    ]


def test_several_errors_at_once_in_file_order(tmp_path: Path) -> None:
    text = """\
all:
  vars:
    transport: sshh
    port: 0
    password: hunter2
  hosts:
    h1: {port: 70000, org: MoF}
    h2: {bastions: [10.0.0.0/33]}
  children:
    g:
      hosts:
        h1: {user: x}
        h2:
"""
    source = str(tmp_path / "inventory.yaml")
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, text)
    assert str(caught.value).splitlines() == [
        f"{source}:3:16: all.vars.transport: expected ssh | winrm | local, got 'sshh'",
        f"{source}:4:11: all.vars.port: Input should be greater than or equal to 1, got 0",
        f"{source}:5:5: all.vars.password: {SECRETS}",
        f"{source}:7:16: all.hosts.h1.port: Input should be less than or equal to 65535, got 70000",
        f"{source}:7:28: all.hosts.h1.org: expected an org path of lower-case segments separated by "
        "'/', e.g. mof/finance, got 'MoF'",
        f"{source}:8:21: all.hosts.h2.bastions.0: not an IP address or network (CIDR) such as "
        "10.0.5.0/28, got '10.0.0.0/33'",
        f"{source}:12:9: all.children.g.hosts.h1: duplicate host 'h1' (first defined at line 7); "
        "write just 'h1:' to add it to another group",
    ]


def test_issue_shape_is_the_playbook_one() -> None:
    issue = InventoryIssue("inv.yaml", 3, 5, "all.vars.port", "bad")
    assert isinstance(issue, PlaybookIssue)
    assert str(issue) == "inv.yaml:3:5: all.vars.port: bad"
    assert issue.as_dict() == {"line": 3, "column": 5, "field": "all.vars.port", "message": "bad"}
    assert str(InventoryIssue("inv.yaml", None, None, "", "empty")) == "inv.yaml: empty"


# --- --limit ---------------------------------------------------------------------------------

LIMIT = """\
all:
  hosts:
    gw1:
  children:
    web:
      hosts: {web1: , web2: }
    db:
      hosts: {db1: , db2: }
    prod:
      hosts: {web1: , db1: }
    empty:
"""


@pytest.fixture
def fleet() -> Inventory:
    return parse_inventory(LIMIT, "fleet.yaml")


def names(inventory: Inventory, pattern: str | None) -> list[str]:
    return [host.name for host in select_hosts(inventory, pattern)]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (None, ["gw1", "web1", "web2", "db1", "db2"]),
        ("all", ["gw1", "web1", "web2", "db1", "db2"]),
        ("*", ["gw1", "web1", "web2", "db1", "db2"]),
        ("db1", ["db1"]),
        ("db1,web2", ["web2", "db1"]),  # file order, not pattern order
        ("web", ["web1", "web2"]),
        ("web:db", ["web1", "web2", "db1", "db2"]),
        ("web*", ["web1", "web2"]),  # a glob over host and group names
        ("*1", ["gw1", "web1", "db1"]),
        ("d?", ["db1", "db2"]),  # matches the group db
        ("all:!web", ["gw1", "db1", "db2"]),
        ("!web", ["gw1", "db1", "db2"]),  # only exclusions start from all hosts
        ("!prod,gw1,web", ["gw1", "web2"]),  # exclusions apply last, wherever they stand
        ("web:&prod", ["web1"]),
        ("&prod", ["web1", "db1"]),
        ("web,db:&prod:!db1", ["web1"]),
        (" web , db2 ", ["web1", "web2", "db2"]),
    ],
)
def test_select(fleet: Inventory, pattern: str | None, expected: list[str]) -> None:
    assert names(fleet, pattern) == expected


def test_select_returns_the_inventory_hosts(fleet: Inventory) -> None:
    assert select_hosts(fleet, "db1") == [fleet.hosts["db1"]]


@pytest.mark.parametrize(
    ("pattern", "messages"),
    [
        ("xyz", ["'xyz' matches no host or group"]),
        ("web,!wbe", ["'!wbe' matches no host or group"]),
        ("nope*,&zzz", ["'nope*' matches no host or group", "'&zzz' matches no host or group"]),
        ("web:!", ["'!' matches no host or group"]),
        ("web:&db", ["'web:&db' selects no host"]),
        ("empty", ["'empty' selects no host"]),
        (",", ["',' names no host or group"]),
    ],
)
def test_select_errors(fleet: Inventory, pattern: str, messages: list[str]) -> None:
    with pytest.raises(InventoryError) as caught:
        select_hosts(fleet, pattern)
    assert [(i.field, i.message) for i in caught.value.issues] == [("--limit", m) for m in messages]
    assert str(caught.value).splitlines()[0] == f"fleet.yaml: --limit: {messages[0]}"


HOST_NAMES = ["a1", "a2", "b1", "b2", "c1"]


@settings(max_examples=60, deadline=None)
@given(
    hosts=st.lists(st.sampled_from(HOST_NAMES), min_size=1, unique=True),
    data=st.data(),
)
def test_exclusion_never_returns_what_it_excludes(hosts: list[str], data: st.DataObject) -> None:
    groups = {g: data.draw(st.lists(st.sampled_from(hosts), unique=True)) for g in ("web", "db")}
    document = {
        "all": {
            "hosts": dict.fromkeys(hosts),
            "children": {g: {"hosts": dict.fromkeys(m)} for g, m in groups.items()},
        }
    }
    inventory = parse_inventory(yaml.safe_dump(document))
    terms = [*hosts, "web", "db", "a*", "*1", "all"]
    base = data.draw(st.sampled_from(terms))
    excluded = data.draw(st.sampled_from(terms))

    def chosen(pattern: str) -> set[str] | str:
        """The selected names, or the error message."""
        try:
            return set(names(inventory, pattern))
        except InventoryError as exc:
            return exc.issues[0].message

    def unmatched(result: set[str] | str) -> bool:
        return isinstance(result, str) and "matches no host or group" in result

    without, whole, part = chosen(f"{base}:!{excluded}"), chosen(base), chosen(excluded)
    if unmatched(whole) or unmatched(part):
        assert unmatched(without)
        return
    # An error here can only be an empty selection: a term that exists but selects nothing.
    expected = (set() if isinstance(whole, str) else whole) - (
        set() if isinstance(part, str) else part
    )
    if not expected:
        assert without == f"'{base}:!{excluded}' selects no host"
        return
    assert isinstance(without, set)
    assert not without & (set() if isinstance(part, str) else part)
    assert without == expected
