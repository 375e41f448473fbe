"""Rich rendering for ``lmsdb shard``: the map, the load bars, a route, an added shard."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from lms_db.ids.topup import TopUpRun
from lms_db.router import ShardRoute
from lms_db.shards.add import AddedShard
from lms_db.shards.edit import ShardChange
from lms_db.shards.inventory import FleetLoad, MapListing
from lmsdb_cli.output import console

BAR_WIDTH = 10
_STATE_STYLE = {"serving": "green", "moving": "yellow", "frozen": "red"}


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def bar(share: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``share`` (0..1) in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")).ljust(width)


def render_listing(listing: MapListing) -> None:
    """The ranges per keyspace, then the shards that own none."""
    table = Table(title=f"shard map, version {listing.map_version}", title_justify="left")
    for column in ("keyspace", "range [lo, hi)", "shard", "state"):
        table.add_column(column)
    owners = set()
    for r in listing.ranges:
        owners.add(r.shard)
        table.add_row(
            r.keyspace,
            f"[{r.lo:,}, {r.hi:,})",
            r.shard,
            Text(r.state, style=_STATE_STYLE.get(r.state, "")),
        )
    console.print(table)
    idle = [s for s in listing.shards if s not in owners]
    if idle:
        console.print(f"shards owning no range: {', '.join(idle)}", highlight=False, markup=False)


def render_status(load: FleetLoad, *, windows: bool = True) -> None:
    """One row per shard with its share bar, then id windows, replicas and warnings."""
    table = Table(title=f"shard status (map version {load.map_version})", title_justify="left")
    for column in ("shard", "user", "course", "global", "bytes", "share of rows", "revision"):
        table.add_column(
            column,
            justify="left" if column in ("shard", "share of rows", "revision") else "right",
            no_wrap=column == "share of rows",
        )
    warnings: list[str] = []
    errors: list[str] = []
    for s in load.shards:
        if s.error:
            table.add_row(
                s.shard,
                "-",
                "-",
                "-",
                "-",
                Text("unreadable", style="red"),
                Text(s.error, style="red"),
            )
            errors.append(f"{s.shard} ({s.database}): {s.error}")
            continue
        rows = {k.keyspace: k for k in s.keyspaces}
        size = (
            sum(k.bytes or 0 for k in s.keyspaces)
            if all(k.bytes is not None for k in s.keyspaces)
            else None
        )
        revision = Text(s.revision or "none", style="green" if s.at_head else "yellow")
        table.add_row(
            s.shard,
            *(f"{rows[k].rows:,}" if k in rows else "-" for k in ("user", "course", "global")),
            _size(size),
            Text(f"{bar(s.share)} {s.share:6.1%}", style="cyan"),
            revision,
        )
        errors.extend(f"{s.shard}: {fault}" for fault in s.counter_faults)
        for w in s.low_windows:
            warnings.append(
                f"{s.shard}: {w.table} ids low: {w.remaining:,} left in "
                f"[{w.lo:,}, {w.hi:,}); run lmsdb shard grant-windows"
            )
        for r in s.replicas:
            lag = "unknown" if r.lag_seconds is None else f"{r.lag_seconds:.1f}s"
            console.print(
                f"{s.shard} replica {r.database}: lag {lag}" + (f" ({r.error})" if r.error else ""),
                highlight=False,
                markup=False,
            )
        if not s.at_head:
            warnings.append(
                f"{s.shard}: schema revision {s.revision or 'none'}, head is {s.head or 'unknown'}"
            )
    console.print(table)
    if windows:
        _render_windows(load)
    if load.open_operations:
        stale = sum(o.stale for o in load.open_operations)
        ids = ", ".join(str(o.entry.id) for o in load.open_operations)
        warnings.append(
            f"{len(load.open_operations)} open operation(s) in the journal "
            f"(entries {ids}; {stale} stale: holder gone): see lmsdb journal list"
        )
    for line in warnings:
        console.print(Text.assemble(("warning: ", "yellow"), line))
    for line in errors:
        console.print(Text.assemble(("error: ", "red"), line))


def _render_windows(load: FleetLoad) -> None:
    table = Table(title="id windows (current span per table)", title_justify="left")
    for column in ("shard", "table", "window [lo, hi)", "used", "remaining"):
        table.add_column(column, justify="right" if column in ("used", "remaining") else "left")
    for s in load.shards:
        for w in s.windows:
            style = "yellow" if w.low else ""
            left = "per reservation" if w.per_reservation else f"{w.remaining:,}"
            table.add_row(
                s.shard, w.table, f"[{w.lo:,}, {w.hi:,})", f"{w.used:,}", Text(left, style=style)
            )
    if table.row_count:
        console.print(table)


def render_route(route: ShardRoute) -> None:
    """Where one key lives."""
    console.print(
        Text.assemble(
            f"{route.keyspace} {route.key} -> ",
            (route.shard, "bold"),
            f"  range [{route.lo:,}, {route.hi:,})  state ",
            (route.state, _STATE_STYLE.get(route.state, "")),
            f"  map version {route.map_version}",
        )
    )


def render_added(added: AddedShard) -> None:
    """What ``shard add`` did."""
    console.print(
        f"added {added.name} at {added.primary}: revision {added.revision}, "
        f"{len(added.windows)} id windows, {added.global_rows} global rows copied, "
        f"map version {added.map_version}; it owns no range until a move",
        highlight=False,
        markup=False,
    )


def render_top_ups(run: TopUpRun) -> None:
    """What ``shard grant-windows`` granted and moved (or, on a dry run, would)."""
    if not run.actions and not run.failures:
        console.print(
            "every counter is inside its windows with headroom; nothing to do",
            highlight=False,
            markup=False,
        )
        return
    if run.actions:
        title = "id windows (dry run: nothing changed)" if run.dry_run else "id windows"
        table = Table(title=title, title_justify="left")
        for column in (
            "shard",
            "table",
            "counter",
            "left before",
            "new window [lo, hi)",
            "next id",
            "problem",
        ):
            table.add_column(
                column,
                justify="right" if column in ("counter", "left before", "next id") else "left",
            )
        for a in run.actions:
            left = "outside" if a.remaining_before is None else f"{a.remaining_before:,}"
            new = "-" if a.granted is None else f"[{a.granted.lo:,}, {a.granted.hi:,})"
            counter = "-" if a.counter is None else f"{a.counter:,}"
            table.add_row(
                a.shard,
                a.table,
                counter,
                left,
                new,
                f"{a.next_id:,}",
                Text(a.error or "", style="red"),
            )
        console.print(table)
    for f in run.failures:
        console.print(Text.assemble(("error: ", "red"), f.line), soft_wrap=True)


def render_change(change: ShardChange) -> None:
    """One line for ``shard set``/``shard remove``, then what is left to do."""
    replicas = ", ".join(change.replicas) or "none"
    verb = "would be" if change.dry_run else "now"
    if change.action == "remove":
        rows = "" if change.rows is None else f", {change.rows:,} rows left in its database"
        verb = "would be unregistered" if change.dry_run else "unregistered"
        what = f"{change.name} {verb} (at {change.primary}{rows})"
    else:
        what = f"{change.name} {verb} at {change.primary}, replicas: {replicas}"
    if change.dry_run:
        what = f"dry run: {what}; nothing changed"
    else:
        what += f" (map version {change.map_version})"
    console.print(what, highlight=False, markup=False, soft_wrap=True)
    for note in change.notes:
        console.print(f"next: {note}", highlight=False, markup=False, soft_wrap=True)
