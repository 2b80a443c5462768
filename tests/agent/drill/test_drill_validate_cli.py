"""``rra drill validate`` and ``rra schema playbook|drill`` through the real root command, so the
``rra.commands`` entry point is exercised too (DESIGN §9: exit 0 valid, 2 invalid)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from rra.agent import rootcli
from tests.agent.drill.test_playbook_load import BASE, PLAYBOOKS, TEMPLATES


def rra(*args: str | Path) -> Result:
    return CliRunner().invoke(rootcli.root, [str(a) for a in args])


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_drill_group_is_registered() -> None:
    result = rra("--help")
    assert result.exit_code == 0
    assert "drill" in result.stdout and "Validate and run restore drills" in result.stdout


def test_templates_validate() -> None:
    paths = sorted(PLAYBOOKS / name for name in TEMPLATES)
    result = rra("drill", "validate", *paths)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"OK {TEMPLATES[path.name][0]} ({path})" for path in paths
    ]
    assert result.stderr == ""


def test_invalid_playbook_exits_2_with_located_errors(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", BASE)
    bad = write(tmp_path, "bad.yaml", BASE.replace("rto: 4h", "rto: 4 hours") + "bogus: 1\n")
    result = rra("drill", "validate", good, bad)
    assert result.exit_code == 2
    assert result.stdout == f"OK finance-db ({good})\n"
    assert result.stderr.splitlines() == [
        f"{bad}:2:6: rto: expected a duration such as '24h', '30d' or '15m', got '4 hours'",
        f"{bad}:12:1: bogus: unknown key 'bogus'; expected one of: cleanup, description, "
        "name, restic_check, rpo, rto, sandbox, schedule, source, targets, timeout, verify",
    ]


def test_json_output_shape(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", BASE)
    bad = write(tmp_path, "bad.yaml", BASE + "  - files_min: 1\n    bytes_min: 2\n")
    missing = tmp_path / "missing.yaml"
    result = rra("drill", "validate", "--json", good, bad, missing)
    assert result.exit_code == 2
    assert json.loads(result.stdout) == [
        {"file": str(good), "valid": True, "name": "finance-db", "errors": []},
        {
            "file": str(bad),
            "valid": False,
            "name": None,
            "errors": [
                {
                    "line": 12,
                    "column": 5,
                    "field": "verify.2",
                    "message": "a verify step has exactly one key, got 2 (files_min, "
                    "bytes_min); give each its own '- ' item",
                }
            ],
        },
        {
            "file": str(missing),
            "valid": False,
            "name": None,
            "errors": [
                {
                    "line": None,
                    "column": None,
                    "field": "",
                    "message": "cannot read the file: No such file or directory",
                }
            ],
        },
    ]


def test_json_all_valid_exits_0() -> None:
    result = rra("drill", "validate", "--json", PLAYBOOKS / "files.yaml")
    assert result.exit_code == 0
    assert [r["valid"] for r in json.loads(result.stdout)] == [True]


def test_unreadable_inputs_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = rra("drill", "validate", missing, tmp_path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{missing}: cannot read the file: No such file or directory",
        f"{tmp_path}: cannot read the file: Is a directory",
    ]


def test_oversized_file_refused(tmp_path: Path) -> None:
    huge = write(tmp_path, "huge.yaml", BASE + "# " + "x" * 300_000 + "\n")
    result = rra("drill", "validate", huge)
    assert result.exit_code == 2
    assert result.stderr == f"{huge}: larger than 256 KiB; a playbook is a short YAML file\n"


def test_yaml_syntax_error_exits_2(tmp_path: Path) -> None:
    bad = write(tmp_path, "syntax.yaml", "name: x\n  rto: 4h\n")
    result = rra("drill", "validate", bad)
    assert result.exit_code == 2
    assert result.stderr == f"{bad}:2:6: mapping values are not allowed here\n"


def test_validate_needs_a_file() -> None:
    result = rra("drill", "validate")
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


def test_schema_playbook_matches_published_file() -> None:
    result = rra("schema", "playbook")
    assert result.exit_code == 0
    assert result.stdout == (PLAYBOOKS / "playbook.schema.json").read_text()


def test_schema_drill() -> None:
    result = rra("schema", "drill")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "rra.drill/1"
    assert "verdict" in schema["properties"]
