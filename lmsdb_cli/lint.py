"""``lmsdb schema lint``: run the schema linter over the models or SQL/Markdown files."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from lms_db.errors import InputError, LintFailed
from lmsdb_cli.defaults import LINT_TARGETS
from lmsdb_cli.output import console, print_json

if TYPE_CHECKING:  # the linter loads sqlglot: imported when a lint runs
    from lms_db.lint import Finding

_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}
_PLURAL = {"error": "errors", "warning": "warnings", "info": "info"}


def lint(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help=".sql files, .md files (their ```sql blocks) or directories; "
            "none lints the models.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the findings as a JSON list, nothing else.")
    ] = False,
    rules: Annotated[
        bool, typer.Option("--rules", help="List the rules (id, name, severity) and exit.")
    ] = False,
    partition: Annotated[
        list[str] | None,
        typer.Option(
            "--partition",
            help="Models only: lint this table's declared partition spec as if applied "
            "(as `lmsdb schema sql --partition` renders it). Repeatable.",
        ),
    ] = None,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            help=f"Server whose rules apply where they differ: {' or '.join(LINT_TARGETS)}.",
        ),
    ] = "mysql8",
    dev_url: Annotated[
        str | None,
        typer.Option(
            "--dev-url",
            help="Let a real server judge FILES instead: apply them to a scratch database "
            "created on this MySQL/MariaDB or PostgreSQL server (URL without a database, or "
            "naming one that does not exist), report its errors, drop it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Lint a schema: what MySQL 8 / MariaDB refuse (partitioning, keys, foreign keys,
    column types), redundant indexes, cross-keyspace foreign keys, syntax.

    Without FILES, lint the SQLAlchemy models (an unapplied partition spec is a warning).

    With FILES, read every CREATE/ALTER TABLE, CREATE INDEX and query in them as the
    --target server would (executable comments /*!50100 ...*/ included, DELIMITER blocks
    split as the mysql client does).

    Exit code: 0 when no finding has error severity, 1 when some has, 2 for bad input
    (missing file, unknown --target, unreachable --dev-url, a --dev-url naming an
    existing database).

    Example:

        lmsdb schema lint                                  # the models
        lmsdb schema lint ../shared/seed/database-design.md
        lmsdb schema lint schema.sql --target mariadb
        lmsdb schema lint sql/mysql/ --json > lint.json    # for CI
        lmsdb schema lint schema.sql --dev-url mysql+pymysql://root@127.0.0.1:3306/
        lmsdb schema lint --rules
    """
    from lms_db.lint import get_target, has_errors, lint_models, lint_paths, verify_on_server

    if rules:
        _render_rules(json_output)
        return
    server = get_target(target)
    if files and partition:
        raise InputError("--partition applies to the models only: drop it, or the FILES")
    if dev_url is not None and not files:
        raise InputError("--dev-url needs FILES: the models are checked by `lmsdb schema check`")
    if dev_url is not None and files:
        with _terminate_as_interrupt():
            findings = verify_on_server(files, dev_url)
    elif files:
        findings = lint_paths(files, target=server)
    else:
        findings = lint_models(apply_partitions=partition or ())
    if json_output:
        print_json([f.to_dict() for f in findings])
    else:
        _render_findings(findings)
    if has_errors(findings):
        count = sum(f.severity == "error" for f in findings)
        raise LintFailed(f"lint found {count} error-severity finding(s)")


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM during --dev-url unwinds like Ctrl-C, so the scratch database is dropped."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _render_findings(findings: list[Finding]) -> None:
    from lms_db.lint import SEVERITIES, has_errors

    if findings:
        table = Table(header_style="bold", expand=True)
        table.add_column("rule", no_wrap=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("table", overflow="fold", ratio=1)
        table.add_column("message", overflow="fold", ratio=4)
        table.add_column("location", overflow="fold", ratio=2)
        for f in findings:
            style = _STYLE[f.severity]
            # Text, not markup: a message may quote "[mysqld]", which markup would eat.
            table.add_row(
                f.rule,
                Text(f.severity, style=style),
                Text(f.table),
                Text(f.message),
                Text(f.location),
            )
        console.print(table)
    counts = Counter(f.severity for f in findings)
    summary = ", ".join(f"{counts[s]} {_PLURAL[s] if counts[s] != 1 else s}" for s in SEVERITIES)
    verdict = "[red]FAILED[/red]" if has_errors(findings) else "[green]ok[/green]"
    console.print(f"{verdict}: {len(findings)} finding(s): {summary}")


def _render_rules(json_output: bool) -> None:
    from lms_db.lint import RULES

    if json_output:
        print_json([vars(rule) for rule in RULES.values()])
        return
    table = Table(header_style="bold")
    for column in ("id", "name", "severity", "description"):
        table.add_column(column, overflow="fold")
    for rule in RULES.values():
        table.add_row(rule.id, rule.name, rule.severity, Text(rule.description))
    console.print(table)
