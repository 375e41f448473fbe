"""``lmsdb schema check``: compare every live primary and replica with the models (drift)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from lms_db.config import require_topology_path
from lms_db.migrate.drift import DriftReport, check_drift
from lms_db.topology.spec import load_topology
from lmsdb_cli.output import console, print_json


def check(
    ctx: typer.Context,
    shard: Annotated[
        list[str] | None,
        typer.Option(
            "--shard",
            "-s",
            help="Only this shard (repeatable); default: every shard and the analytics database.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the per-database report as JSON, nothing else.")
    ] = False,
) -> None:
    """Compare every live shard primary, replica and the analytics database with the models.

    Uses Alembic's autogenerate comparison plus what it misses (index kinds, ON UPDATE,
    triggers, partitions, materialized views, row-level security). Databases are opened
    read-only. Exit 1 with a per-database diff when anything differs; 2 for bad input or an
    unreachable database.

    Example:

        lmsdb -t shards/local-mariadb.toml schema check
        lmsdb schema check --shard shard-1 --json > drift.json      # for CI
    """
    settings = ctx.obj["settings"]
    topology = load_topology(require_topology_path(settings))
    report = check_drift(topology, shards=tuple(shard or ()), timeout=settings.connect_timeout)
    if json_output and not report.drifted:
        print_json(report.to_dict())
    elif not json_output:
        _render(report)
    report.raise_for_drift()  # with --json the boundary prints the report with the error


def _render(report: DriftReport) -> None:
    table = Table(header_style="bold", expand=True)
    table.add_column("database", no_wrap=True)
    table.add_column("revision", no_wrap=True)
    table.add_column("differences from the models", overflow="fold", ratio=1)
    for db in report.databases:
        diffs = Text("\n".join(db.diffs), style="red") if db.diffs else Text("none", "green")
        table.add_row(f"{db.name}\n{db.database}", db.revision or "base", diffs)
    console.print(table)
    drifted = len(report.drifted)
    verdict = "[red]DRIFT[/red]" if drifted else "[green]ok[/green]"
    console.print(f"{verdict}: {drifted} of {len(report.databases)} database(s) differ")
