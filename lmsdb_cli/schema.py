"""``lmsdb schema``: render the DDL, lint it, check live databases for drift."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer

from lms_db.dialects import DIALECTS
from lms_db.errors import UnknownObjectError
from lms_db.schema.ddl import Target, render_schema, write_sql_files
from lms_db.schema.project import find_project
from lms_db.schema.reference import render_reference
from lmsdb_cli.check import check
from lmsdb_cli.lint import lint
from lmsdb_cli.output import console

schema_app = typer.Typer(
    no_args_is_help=True,
    help="Render the schema's DDL per dialect and lint schemas (models or SQL files).",
)

PROJECT_HELP = (
    "Project to write into (default: the lmsdb checkout containing the current directory)."
)

schema_app.command("lint")(lint)
schema_app.command("check")(check)


@schema_app.command("sql")
def sql(
    dialect: Annotated[
        str, typer.Option("--dialect", "-d", help=f"One of: {', '.join(DIALECTS)}.")
    ] = "mysql",
    target: Annotated[
        str, typer.Option(help="oltp (the sharded LMS schema) or analytics (user_events).")
    ] = "oltp",
    partition: Annotated[
        list[str] | None,
        typer.Option(
            "--partition",
            help="Also apply this table's declared seed partition scheme (MySQL/MariaDB; "
            "repeatable). `lmsdb schema lint` says which invariant each one breaks.",
        ),
    ] = None,
    hypertable: Annotated[
        bool, typer.Option(help="Analytics on TimescaleDB: create_hypertable, not partitions.")
    ] = False,
    write: Annotated[
        bool,
        typer.Option("--write", help="Regenerate every committed sql/<dialect>/*.sql file."),
    ] = False,
    project: Annotated[
        Path | None, typer.Option("--project", help=PROJECT_HELP, show_default=False)
    ] = None,
) -> None:
    """Print the complete DDL (tables, indexes, partitions, views, policies) in dependency order.

    Example:

        lmsdb schema sql --dialect postgresql > schema.sql
        lmsdb schema sql --dialect mysql --partition users   # opt into a seed scheme
        lmsdb schema sql --write                             # refresh sql/<dialect>/
        lmsdb schema sql --write --project ~/src/lmsdb       # ... of that checkout
    """
    if write:
        root = find_project(project, Path.cwd())
        for path in write_sql_files(root):
            console.print(f"wrote {path.relative_to(root)}")
        return
    if target not in ("oltp", "analytics"):
        raise UnknownObjectError(f"unknown target {target!r}: choose oltp or analytics")
    text = render_schema(
        dialect,
        target=cast(Target, target),
        partitions=tuple(partition or ()),
        hypertable=hypertable,
    )
    typer.echo(text, nl=False)


@schema_app.command("docs")
def docs(
    write: Annotated[bool, typer.Option("--write", help="Rewrite docs/schema.md.")] = False,
    project: Annotated[
        Path | None, typer.Option("--project", help=PROJECT_HELP, show_default=False)
    ] = None,
) -> None:
    """Print the schema reference (tables by keyspace, indexes, partitions) as Markdown.

    Example:

        lmsdb schema docs --write     # refresh docs/schema.md of this checkout
    """
    text = render_reference()
    if write:
        root = find_project(project, Path.cwd())
        path = root / "docs" / "schema.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        console.print(f"wrote {path.relative_to(root)}")
    else:
        typer.echo(text, nl=False)
