"""``lmsdb shard``: the shard map, each shard's load, where a key lives, adding, changing
and removing a shard."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from lms_db.config import require_topology_path
from lms_db.errors import InputError, OperationError
from lmsdb_cli.output import console, print_json

# Library modules are imported inside each command: `lmsdb --help` and `shard route` (run
# from scripts in loops) load only what they use.
if TYPE_CHECKING:
    from lms_db.router import Router
    from lms_db.topology.spec import Topology

shard_app = typer.Typer(
    no_args_is_help=True,
    help="The live shard map: list ranges, show each shard's load, route a key, add, change or "
    "remove a shard, grant id windows.",
)

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def _topology(ctx: typer.Context) -> Topology:
    from lms_db.topology.spec import load_topology

    return load_topology(require_topology_path(ctx.obj["settings"]))


def _router(ctx: typer.Context) -> Router:
    from lms_db.router import Router

    timeout = float(ctx.obj["settings"].connect_timeout)
    return Router.from_topology(_topology(ctx), connect_timeout=timeout)


@shard_app.command("list")
def list_(ctx: typer.Context, json_output: Json = False) -> None:
    """List the key ranges of every keyspace with their shard and state, and the map version.

    Ranges are half-open: [lo, hi) holds lo <= key < hi.  States: serving, moving (being
    copied to another shard), frozen (writes paused while a move switches it).

    Example:

        lmsdb --topology shards/local-mariadb.toml shard list
        lmsdb -t shards/local-mariadb.toml shard list --json
    """
    from lms_db.shards.inventory import list_ranges
    from lmsdb_cli.shard_render import render_listing

    with _router(ctx) as router:
        listing = list_ranges(router)
    print_json(listing.to_dict()) if json_output else render_listing(listing)


@shard_app.command()
def status(
    ctx: typer.Context,
    shard: Annotated[
        list[str] | None,
        typer.Option("--shard", "-s", help="Only this shard (repeatable).", show_default=False),
    ] = None,
    json_output: Json = False,
) -> None:
    """Show each shard's rows and bytes per keyspace, its share of all rows as a bar, id-window
    headroom (warns when low), replica lag and schema revision.

    Row counts are exact (COUNT(*)), so this reads every table once. Exits 1 when a shard
    cannot be read, or when an id counter stands outside the shard's windows (a rebuilt
    database restarts at 1: its next insert would take another shard's id); the error line
    names the command that fixes it (lmsdb shard grant-windows --shard NAME).

    Example:

        lmsdb --topology shards/local-mariadb.toml shard status
        lmsdb -t shards/local-mariadb.toml shard status --shard shard-1 --json
    """
    from lms_db.shards.inventory import shard_status
    from lmsdb_cli.shard_render import render_status

    with _router(ctx) as router:
        load = shard_status(router, shards=shard or ())
    print_json(load.to_dict()) if json_output else render_status(load)
    if any(s.error or s.counter_faults for s in load.shards):
        raise typer.Exit(code=1)  # each problem was shown with its shard and its fix


# A negative key (`shard route user -1`) is a bad key, not an unknown option.
@shard_app.command(context_settings={"ignore_unknown_options": True})
def route(
    ctx: typer.Context,
    keyspace: Annotated[str, typer.Argument(help="user or course.")],
    key: Annotated[str, typer.Argument(help="The shard key: a user id or a course id.")],
    json_output: Json = False,
) -> None:
    """Show which shard owns KEY of KEYSPACE, the range holding it and the range's state.

    Example:

        lmsdb --topology shards/local-mariadb.toml shard route user 1234567
        lmsdb -t shards/local-mariadb.toml shard route course 42 --json
    """
    from lmsdb_cli.shard_render import render_route

    with _router(ctx) as router:
        found = router.shard_for(keyspace, key)
    print_json(vars(found)) if json_output else render_route(found)


@shard_app.command()
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The new shard's name, e.g. shard-4.")],
    primary: Annotated[
        str,
        typer.Option(
            "--primary",
            help="URL of an empty database; write ${VAR} for the password.",
            show_default=False,
        ),
    ],
    replica: Annotated[
        list[str] | None,
        typer.Option("--replica", help="URL of a replica of it (repeatable).", show_default=False),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Run every check, change nothing.")
    ] = False,
    json_output: Json = False,
) -> None:
    """Register a new shard in the catalog, migrate it to head, copy the global tables and
    grant it id windows.

    It owns no key range, so it serves no keys until a range is moved to it (range moves are
    not part of this release).

    Refuses (exit 2, nothing changed) a name or a database that is already a shard or a
    replica, an unreachable server and a database that is not empty.

    Example:

        export LMS_DB_PASSWORD=...
        lmsdb -t shards/production.toml shard add shard-4 \\
            --primary 'mysql+pymysql://lms:${LMS_DB_PASSWORD}@shard4.db.internal/lms' \\
            --replica 'mysql+pymysql://lms:${LMS_DB_PASSWORD}@shard4-r.db.internal/lms'
    """
    from lms_db.shards.add import add_shard
    from lmsdb_cli.shard_render import render_added

    timeout = float(ctx.obj["settings"].connect_timeout)
    added = add_shard(
        _topology(ctx), name, primary, replica or (), connect_timeout=timeout, dry_run=dry_run
    )
    if json_output:
        print_json(added.to_dict())
    elif dry_run:
        console.print(
            f"dry run: {name} at {added.primary} passes every check; nothing changed",
            highlight=False,
            markup=False,
        )
    else:
        render_added(added)


@shard_app.command("grant-windows")
def grant_windows(
    ctx: typer.Context,
    shard: Annotated[
        list[str] | None,
        typer.Option("--shard", "-s", help="Only this shard (repeatable).", show_default=False),
    ] = None,
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table", help="Only this table (repeatable), e.g. enrollments.", show_default=False
        ),
    ] = None,
    min_remaining: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Grant where fewer ids than this are left (default: where less than 10% "
            "of the current window is left).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be granted; change nothing.")
    ] = False,
    json_output: Json = False,
) -> None:
    """Put every id counter inside its shard's live windows: grant a new window wherever a
    shard has none for a table or is running low, and move a counter that stands outside
    its windows (a rebuilt database restarts at 1) into them.

    --dry-run shows exactly what the real run does (grants, counter moves, problems) and
    exits like it. Exit 1 when a counter cannot be fixed (no free ids left in the ranges a
    shard owns) or a shard cannot be reached.

    On MySQL/MariaDB nothing stops AUTO_INCREMENT at a window's end: run this when shard
    status warns, or from cron. It is idempotent and safe while the application inserts
    (one catalog transaction and one counter move per window). SQLite shards need none
    (each reservation gets its own window). migrate up runs it for the shards it migrates.

    Example:

        lmsdb -t shards/local-mariadb.toml shard grant-windows --dry-run
        lmsdb shard grant-windows --shard shard-1 --table enrollments --min-remaining 5000000
    """
    from lms_db.ids.topup import top_up_windows
    from lmsdb_cli.shard_render import render_top_ups

    with _router(ctx) as router:
        run = top_up_windows(
            router, shard or (), table or (), min_remaining=min_remaining, dry_run=dry_run
        )
    if not json_output:
        render_top_ups(run)
    if not run.ok:  # with --json the boundary prints the whole run with the error
        raise OperationError(
            f"{len(run.errors)} problem(s): {run.errors[0]}", details=run.to_dict()
        )
    if json_output:
        print_json(run.to_dict())


@shard_app.command("set")
def set_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The shard to change, e.g. shard-4.")],
    primary: Annotated[
        str | None,
        typer.Option(
            "--primary",
            help="Its new primary's URL; write ${VAR} or ${file:/path} for the password.",
            show_default=False,
        ),
    ] = None,
    replica: Annotated[
        list[str] | None,
        typer.Option(
            "--replica",
            help="Its replicas' URLs (repeatable; replaces the list).",
            show_default=False,
        ),
    ] = None,
    no_replicas: Annotated[bool, typer.Option("--no-replicas", help="It has no replicas.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Run every check, change nothing.")
    ] = False,
    json_output: Json = False,
) -> None:
    """Point a shard at another primary or other replicas: fixes a shard added with the wrong
    URL, or records a shard that moved to another server.

    Checked like shard add and migrate up (nothing changed on failure, exit 2): the URL rule,
    the server answers, a replica really is a read-only replica, the new primary is not
    another shard's database (its identity row).  Journaled; every Router sees the change
    through the map version.  A shard listed in the topology file gets its replicas from
    there: edit the file.

    Example:

        lmsdb -t shards/production.toml shard set shard-4 --no-replicas
        lmsdb shard set shard-4 \\
            --replica 'mysql+pymysql://lms:${LMS_DB_PASSWORD}@shard4-r.db.internal/lms'
    """
    from lms_db.shards.edit import set_shard
    from lmsdb_cli.shard_render import render_change

    if no_replicas and replica:
        raise InputError("give --replica URL or --no-replicas, not both")
    replicas = [] if no_replicas else replica
    change = set_shard(
        _topology(ctx),
        name,
        primary=primary,
        replicas=replicas,
        connect_timeout=_timeout(ctx),
        dry_run=dry_run,
    )
    print_json(change.to_dict()) if json_output else render_change(change)


@shard_app.command()
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The shard to unregister.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Unregister it even though it holds rows (or cannot be reached to "
            "count them); its database is left as it is.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Run every check, change nothing.")
    ] = False,
    json_output: Json = False,
) -> None:
    """Unregister a shard from the catalog: only one that owns no key range and holds no rows
    (rows: only with --force).  Its databases are not touched.

    Asks for confirmation on a terminal, and refuses in a non-interactive run without --yes.
    The name stays reserved (and so do its id windows).  Remove it from the topology file
    first if it is listed there.

    Example:

        lmsdb -t shards/production.toml shard remove shard-4 --dry-run
        lmsdb shard remove shard-4 --yes
    """
    from lms_db.shards.edit import remove_shard
    from lmsdb_cli.shard_render import render_change

    topology, timeout = _topology(ctx), _timeout(ctx)
    if not dry_run and not yes:
        remove_shard(topology, name, force=force, connect_timeout=timeout, dry_run=True)
        if not sys.stdin.isatty():
            raise InputError(f"shard remove {name}: pass --yes to confirm (or --dry-run)")
        typer.confirm(f"Unregister shard {name}?", abort=True)
    change = remove_shard(topology, name, force=force, connect_timeout=timeout, dry_run=dry_run)
    print_json(change.to_dict()) if json_output else render_change(change)


def _timeout(ctx: typer.Context) -> float:
    return float(ctx.obj["settings"].connect_timeout)


def _register_moves() -> None:
    from lmsdb_cli.shard_move import register

    register(shard_app)


_register_moves()
