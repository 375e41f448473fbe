"""``lmsdb shard verify``: compare a range's copies chunk by chunk, or audit the fleet."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from lmsdb_cli.defaults import VERIFY_CHUNK_ROWS, VERIFY_SAMPLE
from lmsdb_cli.output import console, print_json
from lmsdb_cli.shard import Json, _router, shard_app

if TYPE_CHECKING:  # the library is imported inside each command (fast --help)
    from lms_db.moves.audit import FleetAudit
    from lms_db.moves.range_verify import RangeVerification


@shard_app.command()
def verify(
    ctx: typer.Context,
    keyspace: Annotated[
        str | None,
        typer.Argument(
            metavar="[KEYSPACE]", help="user or course (default: audit both).", show_default=False
        ),
    ] = None,
    key_range: Annotated[
        str | None,
        typer.Argument(
            metavar="[LO:HI]",
            help="Keys LO <= key < HI to compare (default: audit the fleet).",
            show_default=False,
        ),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows per checksum chunk.")
    ] = VERIFY_CHUNK_ROWS,
    sample: Annotated[
        int, typer.Option(min=0, help="Misplaced keys to list per shard and table (audit).")
    ] = VERIFY_SAMPLE,
    json_output: Json = False,
) -> None:
    """Check that rows live where the shard map says, and that copies of a range agree.

    With KEYSPACE and LO:HI: every shard is asked for its rows of the range (all tables of
    the keyspace). The owner's rows are the reference; any other shard holding rows is
    compared with it chunk by chunk of primary keys: row count plus a 128-bit hash over
    every column (not CRC32: it misses a value rewritten in an even number of rows). A
    shard taking part in an open move of the range (its source or destination) holds a
    copy and must match; any other shard holding rows has rows left behind.

    Without a range: audits every shard against the map, table by table, on the servers
    (bounded memory): rows whose key the shard does not own, with counts and sample keys.

    Exits 0 when clean, 1 when a chunk differs or rows are misplaced (each named by shard,
    table and chunk), 2 on bad input or an unreachable shard.

    Example:

        lmsdb -t shards/local-mariadb.toml shard verify user 0:1000000
        lmsdb -t shards/local-mariadb.toml shard verify
        lmsdb shard verify course --json
    """
    from lms_db.moves.audit import audit_fleet
    from lms_db.moves.plan import parse_range
    from lms_db.moves.range_verify import verify_range

    if key_range is not None and keyspace is not None:
        lo, hi = parse_range(key_range)
        with _router(ctx) as router:
            checked = verify_range(router, keyspace, lo, hi, chunk_rows=chunk_rows)
        print_json(checked.to_dict()) if json_output else render_range(checked)
        clean = checked.clean
    else:
        with _router(ctx) as router:
            audit = audit_fleet(router, keyspace=keyspace, sample=sample)
        print_json(audit.to_dict()) if json_output else render_audit(audit)
        clean = audit.clean
    if not clean:
        raise typer.Exit(code=1)


def render_range(checked: RangeVerification) -> None:
    """Who holds the range's rows, and every chunk that differs."""
    table = Table(
        title=f"{checked.keyspace} [{checked.lo:,}, {checked.hi:,}) "
        f"(map version {checked.map_version}, chunks of {checked.chunk_rows:,})",
        title_justify="left",
    )
    for column in ("range [lo, hi)", "shard", "role", "rows", "result"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for piece in checked.pieces:
        for holder in piece.holders:
            if holder.role == "owner":
                result = Text("reference", style="cyan")
            elif holder.mismatches:
                result = Text(f"{len(holder.mismatches)} chunks differ", style="red")
            elif holder.problem:
                result = Text("identical, but not its range", style="red")
            else:
                result = Text("identical", style="green")
            table.add_row(
                f"[{piece.lo:,}, {piece.hi:,})",
                holder.shard,
                holder.role,
                f"{holder.total:,}",
                result,
            )
    console.print(table)
    for line in checked.problems():
        console.print(Text.assemble(("problem: ", "red"), line))
    if checked.open_moves:
        console.print(
            f"open moves on this range: {', '.join(map(str, checked.open_moves))} "
            "(chunks may differ until their catch-up)",
            highlight=False,
            markup=False,
        )
    if checked.clean:
        console.print(
            Text("clean: only the owner's rows, and every copy matches it", style="green")
        )


def render_audit(audit: FleetAudit) -> None:
    """Misplaced rows per shard and table, or a clean line."""
    where = (
        f"{len(audit.shards)} shards, {audit.tables_checked} tables, "
        f"map version {audit.map_version}"
    )
    if audit.clean:
        console.print(
            Text(f"clean: every row lives on the shard owning its key ({where})", style="green")
        )
        return
    table = Table(title=f"misplaced rows ({where})", title_justify="left")
    for column in ("shard", "table", "rows", "keys", "orphans", "sample (key -> owner)"):
        table.add_column(column, justify="right" if column in ("rows", "orphans") else "left")
    for f in audit.findings:
        keys = "-" if f.min_key is None else f"{f.min_key:,}..{f.max_key:,}"
        sample = ", ".join(f"{k.key} -> {k.owner or 'none'}" for k in f.sample) or "-"
        table.add_row(f.shard, f.table, f"{f.rows:,}", keys, f"{f.orphans:,}", sample)
    console.print(table)
    for f in audit.findings:
        console.print(Text.assemble(("problem: ", "red"), f.describe()))
