"""``lmsdb views``: refresh materialized views (native or emulated)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from lms_db.config import URL_ENV_VAR, require_topology_path, url_from_env
from lms_db.router import Router
from lms_db.schema.views import refresh_shards
from lms_db.topology.spec import load_topology
from lms_db.topology.urls import create_engine_checked
from lmsdb_cli.output import console, print_json

views_app = typer.Typer(no_args_is_help=True, help="Refresh materialized views.")


@views_app.command("refresh")
def refresh(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            show_default=False,
            help="One database instead of the topology's shards (default: $LMSDB_URL); write a "
            "password as ${VAR}.",
        ),
    ] = None,
    shard: Annotated[
        list[str] | None,
        typer.Option(
            "--shard",
            "-s",
            help="Only this shard (repeatable); default: every shard.",
            show_default=False,
        ),
    ] = None,
    view: Annotated[str, typer.Option(help="The view to refresh.")] = "popular_courses",
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Rebuild a materialized view on every shard: natively on PostgreSQL, by shadow table and
    atomic RENAME TABLE on MySQL/MariaDB, in one transaction on SQLite. Readers never see it
    missing or empty.

    Example:

        lmsdb -t shards/local-mariadb.toml views refresh
        lmsdb views refresh --url 'mysql+pymysql://lms:${LMS_DB_PASSWORD}@db1/lms_shard_0'
    """
    field = "--url"
    if url is None:
        url, field = url_from_env(), URL_ENV_VAR
    if url is not None:
        engine = create_engine_checked(url, field=field)
        try:
            results = refresh_shards({"--url": engine}, view)
        finally:
            engine.dispose()
    else:
        topology = load_topology(require_topology_path(ctx.obj["settings"]))
        with Router.from_topology(topology) as router:
            names = list(shard or router.shards())
            engines = {name: router.engine_for_shard(name) for name in names}
            results = refresh_shards(engines, view)
    if json_output:
        print_json([{"shard": s, **r.__dict__} for s, r in results.items()])
        return
    table = Table(title=f"refreshed {view}", title_justify="left")
    for column in ("shard", "rows", "seconds", "method"):
        table.add_column(column)
    for name, r in results.items():
        table.add_row(name, f"{r.rows:,}", f"{r.seconds:.2f}", r.method)
    console.print(table)
