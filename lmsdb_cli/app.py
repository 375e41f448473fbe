"""lmsdb: schema, migrations and shard management for the LMS database.

This module is the entry point (`lmsdb = "lmsdb_cli.app:main"`); each command group lives in
its own module of ``lmsdb_cli``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from lms_db.config import resolve_settings
from lmsdb_cli.archive import archive_app
from lmsdb_cli.demo import demo
from lmsdb_cli.init import init
from lmsdb_cli.journal import journal_app
from lmsdb_cli.migrate import migrate_app
from lmsdb_cli.output import LmsdbGroup
from lmsdb_cli.sample import sample_app
from lmsdb_cli.schema import schema_app
from lmsdb_cli.shard import shard_app
from lmsdb_cli.shard_rebalance import rebalance as _shard_rebalance  # noqa: F401 - registers it
from lmsdb_cli.shard_verify import verify as _shard_verify  # noqa: F401 - registers it
from lmsdb_cli.views import views_app

app = typer.Typer(
    cls=LmsdbGroup,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    help=(
        "Schema-and-migration toolkit with a shard management CLI for the LMS database.\n\n"
        "Exit codes (every command): 0 ok; 2 bad input or a server unreachable before any "
        "change (nothing changed); 1 a failure after work began, or a check that found "
        "problems; 130 interrupted (SIGINT/SIGTERM: stopped at a safe point, what was done "
        "is reported). --debug adds the traceback, keeps the code; with --json a failure "
        "prints a JSON object (code, message, retryable, per-shard results) on stdout."
    ),
)
app.add_typer(schema_app, name="schema")
app.add_typer(views_app, name="views")
app.add_typer(migrate_app, name="migrate")
app.add_typer(shard_app, name="shard")
app.add_typer(sample_app, name="sample")
app.add_typer(journal_app, name="journal")
app.add_typer(archive_app, name="archive")
app.command("init")(init)
app.command("demo")(demo)


@app.callback()
def root(
    ctx: typer.Context,
    topology: Annotated[
        Path | None,
        typer.Option(
            "--topology",
            "-t",
            help="Shard topology file (TOML); default: $LMSDB_TOPOLOGY. `lmsdb init` writes one.",
            show_default=False,
        ),
    ] = None,
    connect_timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds to wait for each server (default 5, $LMSDB_CONNECT_TIMEOUT).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Also print the traceback of an error (the exit code stays the same)."
        ),
    ] = False,
) -> None:
    """Schema, migrations and shard management for the LMS database."""
    ctx.obj = {
        "debug": debug,
        "settings": resolve_settings(topology, connect_timeout=connect_timeout),
    }


def main() -> None:
    """Console-script entry point (``lmsdb``)."""
    try:
        app(prog_name="lmsdb")
    except BrokenPipeError:
        # `lmsdb schema sql | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


if __name__ == "__main__":
    main()
