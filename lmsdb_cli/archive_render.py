"""Terminal output of ``lmsdb archive``: tables, progress, one line per shard."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.progress import Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from lmsdb_cli.output import console, err_console

if TYPE_CHECKING:
    from lms_db.archive.forget import ForgetReport
    from lms_db.archive.protocol import ChunkEvent
    from lms_db.archive.restore import RestoreReport
    from lms_db.archive.runner import ArchiveReport


@contextmanager
def chunk_progress(enabled: bool) -> Iterator[Callable[[ChunkEvent], None]]:
    """Rows archived per shard, on stderr (nothing with ``--json``).  The display starts
    with the first chunk, so a run refused up front prints its one error line only."""
    if not enabled:
        yield lambda _event: None
        return
    lock = threading.Lock()
    progress = Progress(
        TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=False
    )
    tasks: dict[str, TaskID] = {}
    totals: dict[str, int] = {}

    def on_chunk(event: ChunkEvent) -> None:
        with lock:
            if not tasks:
                progress.start()
            if event.shard not in tasks:
                tasks[event.shard] = progress.add_task(event.shard)
            if event.state != "superseded":
                totals[event.shard] = totals.get(event.shard, 0) + event.rows
            progress.update(
                tasks[event.shard],
                description=(
                    f"{event.shard}: chunk {event.chunk} {event.state}, "
                    f"{totals.get(event.shard, 0)} rows"
                ),
            )

    try:
        yield on_chunk
    finally:
        if tasks:
            progress.stop()


def _rows(rows: dict[str, int]) -> str:
    return ", ".join(f"{t} {n}" for t, n in rows.items() if n) or "0"


def render_report(report: ArchiveReport) -> None:
    if report.dry_run:
        table = Table(title=f"dry run: {report.table} -> {report.destination} (nothing changed)")
        for column in ("shard", "would archive", "kept (blocked)", "first ids"):
            table.add_column(column)
        for plan in report.plan:
            table.add_row(
                plan.shard,
                str(plan.eligible),
                str(plan.blocked),
                ", ".join(map(str, plan.sample_ids)) or "-",
            )
        console.print(table)
        if report.blocked_reason:
            console.print(f"kept: {report.blocked_reason}", markup=False, highlight=False)
        return
    table = Table(title=f"archive run {report.run}: {report.table} -> {report.destination}")
    for column in ("shard", "state", "chunks", "rows", "bytes", "note"):
        table.add_column(column)
    for shard in report.shards:
        note = shard.error or ("resumed" if shard.resumed else "")
        if shard.superseded_rows:
            note = (note + "; " if note else "") + (
                f"{shard.superseded_rows} rows changed during the run, left in place"
            )
        table.add_row(
            shard.shard, shard.state, str(shard.chunks), _rows(shard.rows), str(shard.bytes), note
        )
    console.print(table)


def render_rows(title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)


def render_restore(report: RestoreReport) -> None:
    render_rows(
        f"archive restore {report.run}",
        ("shard", "chunks", "inserted", "identical", "conflicts", "pending"),
        [
            (
                s.shard,
                s.chunks,
                _rows(s.inserted),
                _rows(s.identical),
                len(s.conflicts),
                len(s.pending),
            )
            for s in report.shards
        ],
    )
    for shard in report.shards:
        for conflict in shard.conflicts[:20]:
            console.print(f"conflict: {shard.shard}: {conflict}", markup=False, highlight=False)
    if report.pending:
        console.print(
            f"{report.pending} object(s) are being restored from cold storage "
            "(Glacier Standard: 3-5 hours, Deep Archive: up to 12 hours); run the "
            "same command again later, or pass --wait",
            markup=False,
            highlight=False,
        )


def render_forget(report: ForgetReport) -> None:
    removed = _rows(report.removed_rows)
    console.print(
        f"user {report.user}: removed {removed} from the archive; "
        f"{len(report.rewritten)} object(s) rewritten, {len(report.emptied)} emptied "
        f"and deleted, {len(report.orphans_deleted)} leftover object(s) deleted",
        markup=False,
        highlight=False,
    )
    if report.pending:
        console.print(
            f"{len(report.pending)} cold object(s) are being restored first; run "
            "the same command again once they are available",
            markup=False,
            highlight=False,
        )
