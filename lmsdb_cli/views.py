"""``lmsdb views``: refresh materialized views (native or emulated)."""

from __future__ import annotations

from typing import Annotated

import typer

from lms_db.db import create_engine_checked
from lms_db.views import refresh_view
from lmsdb_cli.output import console, print_json

views_app = typer.Typer(no_args_is_help=True, help="Refresh materialized views.")


@views_app.command("refresh")
def refresh(
    url: Annotated[
        str,
        typer.Option(
            "--url",
            help="Database URL; write a password as ${VAR} and set it in the environment.",
            envvar="LMSDB_URL",
        ),
    ],
    view: Annotated[str, typer.Option(help="The view to refresh.")] = "popular_courses",
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Rebuild a materialized view: natively on PostgreSQL, by shadow table and atomic swap on
    MySQL/MariaDB, in one transaction on SQLite. Readers never see it missing or empty.

    Example:

        lmsdb views refresh --url 'mysql+pymysql://lms:${LMS_DB_PASSWORD}@db1/lms_shard_0'
    """
    engine = create_engine_checked(url)
    try:
        result = refresh_view(engine, view)
    finally:
        engine.dispose()
    if json_output:
        print_json(result.__dict__)
    else:
        console.print(f"refreshed {result.view}: {result.rows} rows in {result.seconds:.2f}s "
                      f"({result.method})")
