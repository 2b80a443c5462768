"""Loading playbook YAML: every error names file, line, column and field (DESIGN §8)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rra.agent.drill.load import (
    MAX_PLAYBOOK_BYTES,
    PlaybookError,
    PlaybookIssue,
    load_playbook,
    parse_playbook,
    playbook_sha256,
)
from rra.checks.playbook import CommandStep, ManifestStep, playbook_json_schema, step_kind

PLAYBOOKS = Path(__file__).resolve().parents[3] / "playbooks"

# Line numbers below refer to this text; a case appends lines from 12 on or replaces a line.
BASE = """\
name: finance-db
rto: 4h
source:
  restic:
    repository: /srv/restic
    password_file: /etc/rra/pass
    path: /var/lib/finance
sandbox: /var/tmp/rra-drills
verify:
  - files_min: 10
  - manifest: {file: /var/lib/finance/MANIFEST.sha256}
"""


def issues(text: str, source: str = "bad.yaml") -> list[PlaybookIssue]:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, source)
    return caught.value.errors


def only_issue(text: str) -> PlaybookIssue:
    found = issues(text)
    assert len(found) == 1, found
    return found[0]


def test_base_parses() -> None:
    playbook = parse_playbook(BASE)
    assert playbook.name == "finance-db"
    assert playbook.source.restic.path == ["/var/lib/finance"]
    assert isinstance(playbook.verify[1], ManifestStep)


TEMPLATES = {
    "files.yaml": ("shared-documents", {"restic_verify", "files_min", "bytes_min", "manifest"}),
    "sqlite-app.yaml": ("finance-app", {"sqlite_integrity", "files_min"}),
    "postgresql-dump.yaml": ("finance-db", {"bytes_min", "command"}),
}


def test_templates_are_exactly_these() -> None:
    assert {p.name for p in PLAYBOOKS.glob("*.yaml")} == set(TEMPLATES)


@pytest.mark.parametrize(("template", "expected"), TEMPLATES.items())
def test_every_template_validates(template: str, expected: tuple[str, set[str]]) -> None:
    playbook = load_playbook(PLAYBOOKS / template)
    assert (playbook.name, {step_kind(s) for s in playbook.verify}) == expected
    assert playbook.restic_verify


def test_postgresql_template_checks_the_restored_dump() -> None:
    (command,) = [
        s
        for s in load_playbook(PLAYBOOKS / "postgresql-dump.yaml").verify
        if isinstance(s, CommandStep)
    ]
    assert command.command.argv == [
        "pg_restore",
        "--list",
        "{restored}/var/backups/postgresql/finance.dump",
    ]


def test_published_schema_is_current() -> None:
    expected = json.dumps(playbook_json_schema(), indent=2, sort_keys=True) + "\n"
    assert (PLAYBOOKS / "playbook.schema.json").read_text() == expected


@pytest.mark.parametrize(
    ("text", "line", "column", "field", "message"),
    [
        pytest.param(BASE + "bogus: 1\n", 12, 1, "bogus", "unknown key 'bogus'", id="unknown-top"),
        pytest.param(
            BASE + "cleanpu: always\n", 12, 1, "cleanpu", "did you mean 'cleanup'?", id="typo"
        ),
        pytest.param(
            BASE + "  - manifest:\n      file: /a/b\n      algo: sha256\n",
            14,
            7,
            "verify.2.manifest.algo",
            "unknown key 'algo'; did you mean 'algorithm'?",
            id="unknown-in-step",
        ),
        pytest.param(
            BASE.replace("files_min: 10", "files_min: many"),
            10,
            16,
            "verify.0.files_min",
            "valid integer",
            id="wrong-type",
        ),
        pytest.param(
            BASE.replace("rto: 4h", "rto: 4 hours"),
            2,
            6,
            "rto",
            "expected a duration such as '24h', '30d' or '15m', got '4 hours'",
            id="bad-duration",
        ),
        pytest.param(
            BASE.replace("rto: 4h", "rto: 99999999999999w"),
            2,
            6,
            "rto",
            "finite",
            id="overflowing-duration",
        ),
        pytest.param(BASE.replace("rto: 4h", "rto:"), 2, 5, "rto", "got null", id="empty-duration"),
        pytest.param(
            BASE + "  - bytes_min: 10 parsecs\n",
            12,
            16,
            "verify.2.bytes_min",
            "expected a size",
            id="bad-size",
        ),
        pytest.param(
            BASE.replace("sandbox: /var/tmp/rra-drills", "sandbox: var/tmp"),
            8,
            10,
            "sandbox",
            "must be an absolute path, got 'var/tmp'",
            id="relative-sandbox",
        ),
        pytest.param(
            BASE + "schedule: '61 2 * * *'\n",
            12,
            11,
            "schedule",
            "not a valid cron expression '61 2 * * *'",
            id="bad-cron-minute",
        ),
        pytest.param(
            BASE + 'schedule: "0 2 31 2 *"\n',
            12,
            11,
            "schedule",
            "not a valid cron expression",
            id="cron-never-fires",
        ),
        pytest.param(
            BASE + "schedule: 0 2 * *\n", 12, 11, "schedule", "5 fields", id="cron-four-fields"
        ),
        pytest.param(
            BASE.replace("    path:", "    password_command: pass show x\n    path:"),
            4,
            3,
            "source.restic",
            "set exactly one of password_file or password_command",
            id="two-password-sources",
        ),
        pytest.param(
            BASE.replace("rto: 4h\n", ""), 1, 1, "rto", "required field is missing", id="no-rto"
        ),
        pytest.param(
            BASE.replace("    repository: /srv/restic\n", ""),
            4,
            3,
            "source.restic.repository",
            "required field is missing",
            id="nested-missing",
        ),
        pytest.param(
            BASE + "  - files_min: 1\n    bytes_min: 2\n",
            12,
            5,
            "verify.2",
            "a verify step has exactly one key, got 2 (files_min, bytes_min)",
            id="step-two-keys",
        ),
        pytest.param(
            BASE + "  - files_mn: 1\n",
            12,
            5,
            "verify.2",
            "unknown verify step 'files_mn'; did you mean 'files_min'?",
            id="step-unknown",
        ),
        pytest.param(
            BASE + "  - files_min\n", 12, 5, "verify.2", "one-key mapping", id="step-scalar"
        ),
        pytest.param(
            BASE.replace("    path:", "    snapshot: 12345678\n    path:"),
            7,
            15,
            "source.restic.snapshot",
            "got 12345678; quote the value",
            id="number-for-text",
        ),
        pytest.param(
            BASE + "targets: {hostz: []}\n",
            12,
            11,
            "targets.hostz",
            "did you mean 'hosts'?",
            id="unknown-flow-key",
        ),
    ],
)
def test_validation_errors_name_line_column_and_field(
    text: str, line: int, column: int, field: str, message: str
) -> None:
    issue = only_issue(text)
    assert (issue.file, issue.line, issue.column, issue.field) == ("bad.yaml", line, column, field)
    assert message in issue.message


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        pytest.param(BASE + "name: other\n", 12, 1, "duplicate key (first at line 1)", id="dup"),
        pytest.param(
            BASE.replace("    path: /var/lib/finance", "    path: /a\n    path: /b"),
            8,
            5,
            "duplicate key (first at line 7)",
            id="dup-nested",
        ),
    ],
)
def test_duplicate_keys_are_errors(text: str, line: int, column: int, message: str) -> None:
    issue = only_issue(text)
    assert (issue.line, issue.column, issue.message) == (line, column, message)


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        pytest.param(
            "name: x\n  rto: 4h\n", 2, 6, "mapping values are not allowed here", id="syntax"
        ),
        pytest.param(
            BASE + "description: [a\n",
            13,
            1,
            "expected ',' or ']'",
            id="unclosed-flow",
        ),
        pytest.param("", 1, 1, "the playbook is empty", id="empty"),
        pytest.param("# only a comment\n", 1, 1, "the playbook is empty", id="comments-only"),
        pytest.param("- a\n- b\n", 1, 1, "a playbook is a mapping", id="list"),
        pytest.param(
            BASE + "---\nname: b\n", 12, 1, "one YAML document, found a second", id="two-docs"
        ),
        pytest.param(
            BASE + "description: !!python/object/apply:os.system [true]\n",
            12,
            14,
            "could not determine a constructor",
            id="python-tag",
        ),
        pytest.param(BASE + "description: a\x00b\n", 12, 15, "#x0000", id="nul"),
        pytest.param(
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
            1,
            1,
            "more than 10000 YAML nodes",
            id="alias-bomb",
        ),
        pytest.param("a: &a [*a]\n", 1, 1, "more than 10000 YAML nodes", id="alias-cycle"),
    ],
)
def test_yaml_level_errors_have_positions(text: str, line: int, column: int, message: str) -> None:
    issue = only_issue(text)
    assert (issue.line, issue.column, issue.field) == (line, column, "")
    assert message in issue.message


def test_all_errors_reported_in_file_order() -> None:
    text = BASE.replace("rto: 4h", "rto: soon").replace("sandbox: /var", "sandbox: var")
    text += "name: again\nextra: 1\n"
    found = issues(text)
    assert [(i.line, i.field) for i in found] == [
        (2, "rto"),
        (8, "sandbox"),
        (12, "name"),
        (13, "extra"),
    ]


def test_issue_str_is_file_line_column_field_message() -> None:
    issue = only_issue(BASE.replace("/var/lib/finance/MANIFEST.sha256", "x"))
    assert str(issue) == (
        "bad.yaml:11:22: verify.1.manifest.file: must be an absolute path, got 'x'"
    )
    assert str(PlaybookIssue("f.yaml", None, None, "", "cannot read")) == "f.yaml: cannot read"


def test_error_message_lists_every_issue() -> None:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(BASE + "a: 1\nb: 2\n", "p.yaml")
    assert str(caught.value).splitlines() == [str(i) for i in caught.value.errors]
    assert len(caught.value.errors) == 2


def test_load_playbook_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "finance.yaml"
    path.write_text(BASE)
    assert load_playbook(path).name == "finance-db"
    path.write_text(BASE + "bogus: 1\n")
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert str(caught.value).startswith(f"{path}:12:1: bogus: unknown key 'bogus'")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(tmp_path / "nope.yaml")
    (issue,) = caught.value.errors
    assert (issue.line, issue.column) == (None, None)
    assert (
        str(issue) == f"{tmp_path / 'nope.yaml'}: cannot read the file: No such file or directory"
    )


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(BASE + "description: " + "x" * MAX_PLAYBOOK_BYTES + "\n")
    with pytest.raises(PlaybookError, match="larger than 256 KiB"):
        load_playbook(path)
    with pytest.raises(PlaybookError, match="larger than 256 KiB"):
        parse_playbook(path.read_text())


def test_non_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: x\ndescription: caf\xe9\n")
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    (issue,) = caught.value.errors
    assert (issue.line, issue.column, issue.message) == (2, 17, "not UTF-8 text")


def test_sha256_is_of_the_utf8_bytes() -> None:
    assert playbook_sha256("") == hashlib.sha256(b"").hexdigest()
    assert playbook_sha256("café") == hashlib.sha256("café".encode()).hexdigest()
