"""Rich rendering for ``lmsdb migrate``: progress while running, tables at the end."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from lms_db.migrate.database import show_revision
from lms_db.migrate.replication import ReplicaState
from lms_db.migrate.run import FleetEvent, FleetRun
from lms_db.migrate.scripts import RevisionInfo
from lms_db.migrate.status import ShardPlan, ShardStatus
from lmsdb_cli.output import console, err_console

_RESULT_STYLE = {
    "migrated": "green",
    "current": "green",
    "failed": "red",
    "locked": "red",
    "refused": "red",
    "replica-timeout": "red",
    "error": "red",
    "skipped": "yellow",
    "interrupted": "yellow",
}


@contextmanager
def fleet_progress(total: int, enabled: bool) -> Iterator[Callable[[FleetEvent], None]]:
    """A Rich progress display (on stderr) fed by fleet events: shards done, revision per shard.

    :param total: the number of shards.
    :param enabled: ``False`` gives a callback that shows nothing (``--json``).
    """
    if not enabled:
        yield lambda _event: None
        return
    lock = threading.Lock()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    overall = progress.add_task("shards", total=total)
    tasks: dict[str, TaskID] = {}

    def on_event(event: FleetEvent) -> None:
        with lock:
            if event.shard not in tasks:
                tasks[event.shard] = progress.add_task(f"  {event.shard}", total=None)
            task = tasks[event.shard]
            if event.kind == "step":
                progress.update(task, description=f"  {event.shard}: {event.message}")
            elif event.kind == "wait":
                progress.update(task, description=f"  {event.shard}: waiting for lock")
            elif event.kind == "replicas":
                progress.update(task, description=f"  {event.shard}: waiting for replicas")
            elif event.kind == "finish" and event.result is not None:
                result = event.result
                progress.update(
                    task,
                    total=1,
                    completed=1,
                    description=(
                        f"  {event.shard}: {result.result} at {show_revision(result.to_revision)}"
                    ),
                )
                progress.advance(overall)

    with progress:
        yield on_event


def _replica_text(states: tuple[ReplicaState, ...]) -> str:
    parts = []
    for state in states:
        lag = "?" if state.lag_seconds is None else f"{state.lag_seconds:g}s"
        parts.append(f"{show_revision(state.revision)} (lag {lag}, {state.status})")
    return "\n".join(parts) or "-"


def render_run(run: FleetRun) -> None:
    """The per-shard summary: shard, from, to, result, replicas, error."""
    table = Table(
        title=f"migrate {run.direction} ({run.target}) to {show_revision(run.revision)}",
        header_style="bold",
        expand=True,
    )
    for column in ("shard", "from", "to", "result", "replicas", "seconds"):
        table.add_column(column, no_wrap=column != "replicas")
    table.add_column("error", overflow="fold", ratio=1)
    for r in run.results:
        style = _RESULT_STYLE.get(r.result, "")
        table.add_row(
            r.shard,
            show_revision(r.from_revision) if r.known else "-",
            show_revision(r.to_revision) if r.known else "-",
            Text(r.result, style=style),
            _replica_text(r.replicas),
            f"{r.seconds:.1f}",
            Text(r.error or ""),
        )
    console.print(table)
    if run.windows:
        shards = sorted({t.shard for t in run.windows})
        granted = sum(t.granted is not None for t in run.windows)
        moved = sum(t.moved and t.granted is None for t in run.windows)
        console.print(
            f"id windows: {granted} granted, {moved} counter(s) moved into their "
            f"window on {', '.join(shards)}",
            highlight=False,
            markup=False,
        )
    if run.windows_error:
        console.print(
            Text.assemble(
                ("error: ", "red"),
                run.windows_error,
                " (rerun migrate up, or lmsdb shard grant-windows)",
            )
        )
    failed = sum(r.failed for r in run.results)
    verdict = "[red]FAILED[/red]" if not run.ok else "[green]ok[/green]"
    if run.interrupted:
        verdict = "[yellow]INTERRUPTED[/yellow]"
    console.print(f"{verdict}: {len(run.results) - failed} of {len(run.results)} shard(s) ok")


def render_status(statuses: list[ShardStatus]) -> None:
    """Shard x (primary revision, replicas' revision and lag, pending revisions)."""
    head = show_revision(statuses[0].head) if statuses else "base"
    table = Table(title=f"head: {head}", header_style="bold", expand=True)
    for column in ("shard", "primary", "replicas (revision, lag)", "pending"):
        table.add_column(column)
    table.add_column("error", overflow="fold", ratio=1)
    for s in statuses:
        revision = Text(show_revision(s.revision), style="green" if s.at_head else "yellow")
        table.add_row(
            s.shard,
            revision,
            _replica_text(s.replicas),
            ", ".join(s.pending) or "-",
            Text(s.error or ""),
        )
    console.print(table)


def render_plan(plans: list[ShardPlan]) -> None:
    """What would run where, with blocking statements flagged."""
    table = Table(header_style="bold", expand=True)
    for column in ("shard", "dialect", "from", "to", "steps"):
        table.add_column(column, no_wrap=True)
    table.add_column("replicas waited for", overflow="fold")
    table.add_column("may block writes", overflow="fold", ratio=1)
    for p in plans:
        table.add_row(
            p.shard,
            p.dialect,
            show_revision(p.current),
            show_revision(p.target),
            " ".join(p.steps) or "nothing to do",
            "\n".join(p.replicas) or "-",
            Text("\n".join(p.warnings) or "-", style="yellow" if p.warnings else ""),
        )
    console.print(table)


def render_history(revisions: list[RevisionInfo]) -> None:
    """Revisions newest first."""
    table = Table(header_style="bold")
    for column in ("revision", "follows", "message"):
        table.add_column(column)
    for rev in revisions:
        mark = " (head)" if rev.is_head else ""
        table.add_row(rev.revision + mark, rev.down_revision or "base", rev.message)
    console.print(table)
