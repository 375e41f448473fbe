"""``lmsdb shard move|split|moves``: range moves, with progress bars, confirmation and --json."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from lms_db.config import require_topology_path
from lms_db.errors import InputError
from lmsdb_cli.defaults import MOVE_CHUNK_SIZE, MOVE_FREEZE_TIMEOUT
from lmsdb_cli.output import console, print_json

if TYPE_CHECKING:  # the library is imported inside each command (fast --help)
    from lms_db.moves.engine import MoveProgress, MoveResult
    from lms_db.moves.plan import MovePlan, MoveRequest
    from lms_db.router import Router

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
To = Annotated[
    str | None,
    typer.Option("--to", help="The shard that will serve the range.", show_default=False),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
ChunkSize = Annotated[
    int, typer.Option("--chunk-size", min=1, help="Rows per copy, verify and delete chunk.")
]
MaxLag = Annotated[
    float | None,
    typer.Option(
        "--max-replica-lag",
        min=0,
        show_default=False,
        help="Pause while a replica of either shard lags more than this many seconds.",
    ),
]
Throttle = Annotated[
    float, typer.Option("--throttle", min=0, help="Seconds to sleep after each chunk.")
]
FreezeTimeout = Annotated[
    float,
    typer.Option(
        "--freeze-timeout",
        min=0.1,
        help="Seconds the freeze waits for open transactions on the source before it gives up.",
    ),
]


def _router(ctx: typer.Context) -> Router:
    from lms_db.router import Router
    from lms_db.topology.spec import load_topology

    settings = ctx.obj["settings"]
    topology = load_topology(require_topology_path(settings))
    return Router.from_topology(topology, connect_timeout=float(settings.connect_timeout))


def _confirm(what: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError(
            f"{what} copies and deletes rows: pass --yes to run it "
            "non-interactively (or --dry-run to see the plan)"
        )
    typer.confirm(f"{what}?", abort=True)


class RowsPerSecond(ProgressColumn):
    """``12,345 rows/s`` (blank until Rich has a rate)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s")


@contextmanager
def _bars(enabled: bool, totals: dict[str, int]) -> Iterator[Callable[[MoveProgress], None]]:
    """Rich bars per table (rows, rows/s, ETA) fed by the library's progress callback."""

    if not enabled:
        yield lambda _p: None
        return
    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        RowsPerSecond(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[tuple[str, str | None], TaskID] = {}

    def report(p: MoveProgress) -> None:
        key = (p.phase, p.table)
        if p.table is None and p.done == 0:
            console.print(f"step {p.phase}", highlight=False, markup=False)
            return
        if key not in tasks:
            total = p.total if p.total is not None else totals.get(p.table or "")
            tasks[key] = progress.add_task(f"{p.phase} {p.table or ''}", total=total)
        progress.update(tasks[key], completed=p.done)

    with progress:
        yield report


def _render_plan(plan: MovePlan) -> None:
    r = plan.request
    console.print(
        f"plan: {r.keyspace} [{r.lo}, {r.hi}) {plan.source} -> {r.dest} "
        f"(map version {plan.map_version}), chunks of {r.chunk_size} rows",
        highlight=False,
        markup=False,
    )
    table = Table("table (insert order)", "rows", "chunks")
    for t in plan.tables:
        table.add_row(t.table, str(t.rows), str(t.chunks))
    console.print(table)
    console.print("servers: " + ", ".join(plan.servers), highlight=False, markup=False)
    how = (
        "same-server (one INSERT ... SELECT per chunk on the server)"
        if plan.copy_path == "same-server"
        else "client (rows read and written by lmsdb)"
    )
    console.print(f"copy path: {how}", highlight=False, markup=False)
    console.print(
        "steps: prepare, capture (changelog triggers), copy, catchup, freeze "
        "(fence), final_delta, verify, switch, dest_windows, delete, "
        "source_windows, cleanup",
        highlight=False,
        markup=False,
    )


def _render_result(result: MoveResult) -> None:
    where = f"{result.keyspace} [{result.lo}, {result.hi})"
    if result.state == "aborted":
        console.print(
            f"aborted move {result.move_id}: {where} serves from {result.source} "
            f"again; {result.rows_deleted} copied rows removed from {result.dest}",
            highlight=False,
            markup=False,
        )
        return
    frozen = (
        ""
        if result.frozen_seconds is None
        else f"; writes refused for {result.frozen_seconds:.3f} s (freeze to switch)"
    )
    console.print(
        f"moved {where} {result.source} -> {result.dest} (move {result.move_id}): "
        f"{result.rows_copied} rows copied ({result.copy_path or 'no'} copy path), "
        f"{result.changes_applied} changes caught "
        f"up, {result.rows_deleted} deleted from the source{frozen}; map version "
        f"{result.map_version}; {result.seconds:.1f} s",
        highlight=False,
        markup=False,
    )


def _run_move(
    ctx: typer.Context, request: MoveRequest, what: str, dry_run: bool, yes: bool, json_output: bool
) -> None:
    from lms_db.moves.engine import start_move
    from lms_db.moves.plan import plan_move

    with _router(ctx) as router:
        plan = plan_move(router, request)
        if dry_run:
            print_json({"dry_run": True, **plan.to_dict()}) if json_output else _render_plan(plan)
            return
        if not json_output:
            _render_plan(plan)
        _confirm(what, yes)
        totals = {t.table: t.rows for t in plan.tables}
        with _bars(not json_output and console.is_terminal, totals) as report:
            result = start_move(router, request, on_progress=report, plan=plan)
    print_json(result.to_dict()) if json_output else _render_result(result)


def _run_existing(
    ctx: typer.Context, move_id: int, abort: bool, yes: bool, json_output: bool
) -> None:
    from lms_db.moves.engine import abort_move, resume_move

    _confirm(f"{'Abort' if abort else 'Resume'} move {move_id}", yes)
    with _router(ctx) as router, _bars(not json_output and console.is_terminal, {}) as report:
        result = (abort_move if abort else resume_move)(router, move_id, on_progress=report)
    print_json(result.to_dict()) if json_output else _render_result(result)


def move(
    ctx: typer.Context,
    keyspace: Annotated[str | None, typer.Argument(help="user or course.")] = None,
    key_range: Annotated[
        str | None,
        typer.Argument(
            metavar="LO:HI", help="The keys to move: LO <= key < HI, inside one shard's range."
        ),
    ] = None,
    to: To = None,
    resume: Annotated[
        int | None,
        typer.Option(
            "--resume", help="Finish the interrupted move with this journal id.", show_default=False
        ),
    ] = None,
    abort: Annotated[
        int | None,
        typer.Option(
            "--abort",
            help="Roll back the unfinished move with this id (before its switch).",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    chunk_size: ChunkSize = MOVE_CHUNK_SIZE,
    max_replica_lag: MaxLag = None,
    throttle: Throttle = 0.0,
    freeze_timeout: FreezeTimeout = MOVE_FREEZE_TIMEOUT,
    json_output: Json = False,
) -> None:
    """Move the keys LO <= key < HI of KEYSPACE, with every table of the keyspace, to another
    shard: copy in primary-key chunks, catch up every change (triggers), freeze (the source
    refuses writes to the range), final delta, verify (per-chunk counts and digests), switch
    the map, re-cut id windows, delete from the source.

    Every step is journaled: after a crash, --resume ID finishes the move; --abort ID (before
    the switch) rolls it back. lmsdb shard moves lists unfinished moves. Asks for
    confirmation on a terminal; a non-interactive run needs --yes.

    Example:

        lmsdb -t shards/local.toml shard move user 1000:1500 --to shard-3 --dry-run
        lmsdb -t shards/local.toml shard move user 1000:1500 --to shard-3 --yes
        lmsdb shard move --resume 42 --yes
    """
    from lms_db.moves.plan import MoveRequest, parse_range

    if resume is not None or abort is not None:
        if resume is not None and abort is not None:
            raise InputError("pass --resume or --abort, not both")
        if keyspace or key_range or to:
            raise InputError(
                "--resume/--abort take the move's id only (no KEYSPACE, LO:HI or --to)"
            )
        _run_existing(
            ctx,
            int(resume if resume is not None else abort or 0),
            abort is not None,
            yes,
            json_output,
        )
        return
    if keyspace is None or key_range is None or to is None:
        raise InputError(
            "usage: lmsdb shard move KEYSPACE LO:HI --to SHARD (or --resume ID / --abort ID)"
        )
    lo, hi = parse_range(key_range)
    request = MoveRequest(
        keyspace, lo, hi, to, chunk_size, max_replica_lag, throttle, freeze_timeout
    )
    _run_move(ctx, request, f"Move {keyspace} [{lo}, {hi}) to {to}", dry_run, yes, json_output)


def split(
    ctx: typer.Context,
    keyspace: Annotated[str, typer.Argument(help="user or course.")],
    at: Annotated[str, typer.Argument(help="The first key of the part that moves.")],
    to: Annotated[
        str,
        typer.Option("--to", help="The shard that will serve the upper part.", show_default=False),
    ],
    dry_run: DryRun = False,
    yes: Yes = False,
    chunk_size: ChunkSize = MOVE_CHUNK_SIZE,
    max_replica_lag: MaxLag = None,
    throttle: Throttle = 0.0,
    freeze_timeout: FreezeTimeout = MOVE_FREEZE_TIMEOUT,
    json_output: Json = False,
) -> None:
    """Split the range holding AT: the keys from AT to the end of that range move to --to
    (the same protocol as shard move; resume or abort it with shard move --resume/--abort).

    Example:

        lmsdb -t shards/local-mariadb.toml shard split user 3000 --to shard-3 --dry-run
        lmsdb -t shards/local-mariadb.toml shard split user 3000 --to shard-3 --yes
    """
    from lms_db.moves.plan import MoveRequest, split_range

    with _router(ctx) as router:
        lo, hi = split_range(router, keyspace, at)
    request = MoveRequest(
        keyspace, lo, hi, to, chunk_size, max_replica_lag, throttle, freeze_timeout
    )
    _run_move(
        ctx,
        request,
        f"Split {keyspace} at {lo}: move [{lo}, {hi}) to {to}",
        dry_run,
        yes,
        json_output,
    )


def moves(ctx: typer.Context, json_output: Json = False) -> None:
    """List unfinished moves with the command that resumes or aborts each.

    Example:

        lmsdb -t shards/local-mariadb.toml shard moves
        lmsdb -t shards/local-mariadb.toml shard moves --json
    """
    from lms_db.moves.journal_view import list_moves

    with _router(ctx) as router:
        found = list_moves(router)
    if json_output:
        print_json({"moves": [m.to_dict() for m in found]})
        return
    if not found:
        console.print("no unfinished moves", highlight=False, markup=False)
        return
    table = Table("id", "range", "from", "to", "step", "held by", "resume / abort")
    for m in found:
        commands = m.resume + (f"\n{m.abort}" if m.abort else "\n(switched: resume only)")
        table.add_row(
            str(m.move_id),
            f"{m.keyspace} [{m.lo}, {m.hi})",
            m.source,
            m.dest,
            m.step,
            m.holder,
            commands,
        )
    console.print(table)


def register(app: Any) -> None:
    """Mount the move commands on the ``shard`` sub-app."""
    app.command()(move)
    app.command()(split)
    app.command()(moves)
