"""``lmsdb journal``: open operations in the catalog, who holds them, resume or release."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from lms_db.catalog.journal_view import OpenOperation, catalog_of, list_open, release, show
from lms_db.config import require_topology_path
from lms_db.topology.spec import load_topology
from lmsdb_cli.output import console, print_json

journal_app = typer.Typer(
    no_args_is_help=True,
    help="Open operations recorded in the catalog's journal (migrations, moves, archives): "
    "who holds each, whether that process still lives, how to resume or release it.",
)

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _render(ops: list[OpenOperation]) -> None:
    if not ops:
        console.print("no open operation", highlight=False, markup=False)
        return
    table = Table(title="open operations", title_justify="left")
    for column in (
        "id",
        "operation",
        "shard",
        "step",
        "holder",
        "age",
        "idle",
        "holder is",
        "next",
    ):
        table.add_column(column, overflow="fold")
    for op in ops:
        alive = {
            True: Text("alive", "green"),
            False: Text("gone (stale)", "red"),
            None: Text("unknown", "yellow"),
        }[op.alive]
        e = op.entry
        table.add_row(
            str(e.id),
            e.operation,
            e.shard or "(fleet)",
            e.step,
            e.holder,
            _age(op.age_seconds),
            _age(op.idle_seconds),
            alive,
            op.next_step,
        )
    console.print(table)


@journal_app.command("list")
def list_(
    ctx: typer.Context,
    shard: Annotated[
        str | None,
        typer.Option("--shard", "-s", help="Only entries holding this shard.", show_default=False),
    ] = None,
    json_output: Json = False,
) -> None:
    """List every open operation: holder (host:pid), age, last step, whether the holder
    process still runs (stale: it is gone) and the command that resumes or releases it.

    A stale migrate entry needs nothing: the next migrate up of its shard adopts it and
    finishes the revision it left halfway.

    Example:

        lmsdb -t shards/local-mariadb.toml journal list
        lmsdb journal list --shard shard-1 --json
    """
    topology = load_topology(require_topology_path(ctx.obj["settings"]))
    with catalog_of(topology, timeout=ctx.obj["settings"].connect_timeout) as catalog:
        ops = list_open(catalog, shard)
    print_json([o.to_dict() for o in ops]) if json_output else _render(ops)


@journal_app.command("show")
def show_(
    ctx: typer.Context,
    entry: Annotated[int, typer.Argument(help="Journal entry id.")],
    json_output: Json = False,
) -> None:
    """Show one journal entry (any state) with its payload: progress, error, outcome.

    Example:

        lmsdb journal show 42 --json
    """
    topology = load_topology(require_topology_path(ctx.obj["settings"]))
    with catalog_of(topology, timeout=ctx.obj["settings"].connect_timeout) as catalog:
        op = show(catalog, entry)
    if json_output:
        print_json(op.to_dict())
        return
    _render([op])
    console.print(
        f"state: {op.entry.state}; payload: {op.entry.payload}", highlight=False, markup=False
    )


@journal_app.command("release")
def release_(
    ctx: typer.Context,
    entry: Annotated[int, typer.Argument(help="Journal entry id.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Release even when the holder may still run (you checked it is "
            "gone, e.g. on another host).",
        ),
    ] = False,
    json_output: Json = False,
) -> None:
    """Close an open entry whose holder is gone, so its shard can be worked on again.

    Refuses (exit 1) while the holder process is alive, or may be (another host with a
    recent heartbeat), unless --force. The entry is kept, closed as failed with outcome
    "released".

    Example:

        lmsdb journal release 42
        lmsdb journal release 42 --force     # holder on another host, known dead
    """
    topology = load_topology(require_topology_path(ctx.obj["settings"]))
    with catalog_of(topology, timeout=ctx.obj["settings"].connect_timeout) as catalog:
        op = release(catalog, entry, force=force)
    if json_output:
        print_json({"released": op.entry.id, "holder": op.entry.holder})
    else:
        console.print(
            f"released journal entry {op.entry.id} ({op.entry.operation} on "
            f"{op.entry.shard or 'the fleet'}, held by {op.entry.holder})",
            highlight=False,
            markup=False,
        )
