"""``lmsdb schema lint`` through CliRunner: exit codes 0/1/2, the table, ``--json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lms_db.lint import RULES
from lmsdb_cli.lint import lint
from lmsdb_cli.output import LmsdbGroup

FIXTURES = Path(__file__).parents[1] / "fixtures" / "lint"
CLEAN = FIXTURES / "clean.sql"
BROKEN = FIXTURES / "broken.sql"
JSON_KEYS = {"rule", "severity", "table", "message", "location"}


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer(cls=LmsdbGroup)
    sub = typer.Typer()
    sub.command("lint")(lint)
    root.add_typer(sub, name="schema")
    return root


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_models_lint_exits_0(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema", "lint"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.stdout


def test_clean_file_exits_0(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema", "lint", str(CLEAN)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "ok: 0 finding(s)" in result.stdout


def test_broken_file_exits_1_with_table(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema", "lint", str(BROKEN)])
    assert result.exit_code == 1, result.output
    assert "LMS101" in result.stdout and "LMS401" in result.stdout
    assert "FAILED" in result.stdout
    assert result.stderr.strip().startswith("error: lint found")


@pytest.mark.parametrize(("path", "code"), [(CLEAN, 0), (BROKEN, 1)])
def test_json_output_is_a_list_of_findings(
    app: typer.Typer, runner: CliRunner, path: Path, code: int
) -> None:
    result = runner.invoke(app, ["schema", "lint", "--json", str(path)])
    assert result.exit_code == code, result.output
    findings = json.loads(result.stdout)
    assert isinstance(findings, list)
    assert bool(findings) == (code == 1)
    for item in findings:
        assert set(item) >= JSON_KEYS
        assert item["rule"] in RULES
        assert item["location"].startswith(str(path))


def test_json_models_are_warnings_only(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema", "lint", "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    findings = json.loads(result.stdout)
    assert findings and {f["severity"] for f in findings} <= {"warning", "info"}


def test_applied_partition_fails(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema", "lint", "--json", "--partition", "users"])
    assert result.exit_code == 1
    assert any(
        f["severity"] == "error" and f["table"] == "users" for f in json.loads(result.stdout)
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["does-not-exist.sql"], "does-not-exist.sql: no such file"),
        (["{tmp}/schema.toml"], "lint reads .sql and .md files only"),
        (["--partition", "coupons"], "no declared partition spec on table 'coupons'"),
        (["--partition", "users", str(CLEAN)], "--partition applies to the models only"),
        (["--target", "oracle", str(CLEAN)], "unknown lint target 'oracle'"),
        (["--dev-url", "mysql+pymysql://root@127.0.0.1:3306/"], "--dev-url needs FILES"),
        ([str(CLEAN), "--dev-url", "not a url"], "--dev-url is not a database URL"),
        ([str(CLEAN), "--dev-url", "mysql://u:pw-hidden@127.0.0.1:1/"], "u:***@127.0.0.1:1"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    app: typer.Typer, runner: CliRunner, tmp_path: Path, args: list[str], expected: str
) -> None:
    (tmp_path / "schema.toml").write_text("[x]\n")
    args = [arg.format(tmp=tmp_path) for arg in args]
    result = runner.invoke(app, ["schema", "lint", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]
    assert result.stdout == ""


def test_target_decides_where_the_servers_differ(
    app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "ft.sql"
    path.write_text(
        "CREATE TABLE t (id INT, b TEXT, FULLTEXT (b)) PARTITION BY HASH (id) PARTITIONS 2;\n"
    )
    assert runner.invoke(app, ["schema", "lint", str(path)]).exit_code == 1  # mysql8 default
    maria = runner.invoke(app, ["schema", "lint", str(path), "--target", "mariadb", "--json"])
    assert maria.exit_code == 0
    assert [f["severity"] for f in json.loads(maria.stdout)] == ["warning"]


def test_missing_file_with_json_prints_the_error_as_json(
    app: typer.Typer, runner: CliRunner
) -> None:
    """With --json a failure is one JSON object on stdout (#9), the line on stderr too."""
    result = runner.invoke(app, ["schema", "lint", "--json", "missing.md"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["code"] == "input_error" and error["exit_code"] == 2
    assert "missing.md: no such file" in error["message"] and not error["retryable"]
    assert result.stderr.startswith("error: missing.md")


def test_rules_lists_every_rule(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema", "lint", "--rules"], catch_exceptions=False)
    assert result.exit_code == 0
    for rule_id in RULES:
        assert rule_id in result.stdout
    as_json = runner.invoke(app, ["schema", "lint", "--rules", "--json"])
    assert [r["id"] for r in json.loads(as_json.stdout)] == list(RULES)


def test_help_ends_with_an_example(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema", "lint", "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "Example:" in result.stdout and "lmsdb schema lint --rules" in result.stdout
