"""lmsdb: schema, migrations and shard management for the LMS database.

This module is the entry point only; each command group lives in ``lmsdb_cli``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from lmsdb_cli.output import LmsdbGroup
from lmsdb_cli.schema import schema_app
from lmsdb_cli.views import views_app

app = typer.Typer(
    cls=LmsdbGroup,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    help=(
        "Schema-and-migration toolkit with a shard management CLI for the LMS database.\n\n"
        "Exit codes: 0 ok, 1 failed or problems found, 2 bad input (nothing changed)."
    ),
)
app.add_typer(schema_app, name="schema")
app.add_typer(views_app, name="views")


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an lmsdb error.")
    ] = False,
) -> None:
    """Schema, migrations and shard management for the LMS database."""
    ctx.obj = {"debug": debug}


def main() -> None:
    """Console-script entry point (``lmsdb``)."""
    app()


if __name__ == "__main__":
    main()
