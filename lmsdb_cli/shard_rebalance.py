"""``lmsdb shard rebalance``: show the plan, confirm, run the moves one after another."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from lms_db.errors import InputError
from lmsdb_cli.defaults import MOVE_CHUNK_SIZE, REBALANCE_BUCKETS, REBALANCE_TOLERANCE
from lmsdb_cli.output import console, print_json
from lmsdb_cli.shard import Json, _router, shard_app
from lmsdb_cli.shard_move import _bars

if TYPE_CHECKING:  # the library is imported inside each command (fast --help)
    from lms_db.moves.rebalance import (
        RebalancePlan,
        RebalanceRun,
    )
    from lms_db.moves.rebalance_plan import PlannedMove


@shard_app.command()
def rebalance(
    ctx: typer.Context,
    keyspace: Annotated[
        str | None,
        typer.Option(
            "--keyspace",
            "-k",
            help="Only this keyspace (default: user and course).",
            show_default=False,
        ),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Even out rows or bytes.")] = "rows",
    tolerance: Annotated[
        float,
        typer.Option(
            min=0.0, max=0.99, help="Stop when shards differ by at most this share of the mean."
        ),
    ] = REBALANCE_TOLERANCE,
    buckets: Annotated[
        int,
        typer.Option(
            min=1, max=1000, help="Slices each range is measured in (where splits may cut)."
        ),
    ] = REBALANCE_BUCKETS,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size", min=1, help="Rows per copy, verify and delete chunk of each move."
        ),
    ] = MOVE_CHUNK_SIZE,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    resume: Annotated[
        int | None,
        typer.Option(
            "--resume",
            help="Continue the interrupted rebalance with this journal id.",
            show_default=False,
        ),
    ] = None,
    abandon: Annotated[
        int | None,
        typer.Option(
            "--abandon",
            help="Close this open rebalance without running its other moves.",
            show_default=False,
        ),
    ] = None,
    json_output: Json = False,
) -> None:
    """Even out the fleet: measure each shard's rows (or bytes) per range, plan moves from
    the heaviest shards to the lightest, show the plan, then run the moves one by one.

    Each move is a verified, fenced range move (lmsdb shard move); the plan is recorded in
    the journal, so a run killed anywhere continues with --resume ID (an interrupted move
    is resumed, finished ones are skipped). Ranges are cut at measured quantiles of their
    keys; moves never overlap. Asks for confirmation on a terminal unless --yes; a
    non-interactive run needs --yes.

    Example:

        lmsdb -t shards/local-mariadb.toml shard rebalance --dry-run
        lmsdb -t shards/local-mariadb.toml shard rebalance --keyspace user --by bytes --yes
        lmsdb shard rebalance --resume 17 --yes
    """
    from lms_db.moves.rebalance import (
        abandon_rebalance,
        plan_fleet,
        resume_rebalance,
        run_rebalance,
    )

    with _router(ctx) as router:
        if abandon is not None:
            abandon_rebalance(router, abandon)
            console.print(
                f"rebalance {abandon} abandoned; moves it finished stay done",
                highlight=False,
                markup=False,
            )
            return
        if resume is not None:
            _confirm(f"Resume rebalance {resume}", yes)
            with _bars(not json_output and console.is_terminal, {}) as report:
                done = resume_rebalance(
                    router, resume, on_progress=report, on_move=None if json_output else _announce
                )
            print_json(done.to_dict()) if json_output else render_run(done)
            return
        plan = plan_fleet(router, keyspace=keyspace, by=by, tolerance=tolerance, buckets=buckets)
        if dry_run or not plan.moves:
            print_json({"dry_run": dry_run, **plan.to_dict()}) if json_output else render_plan(
                plan, dry_run=dry_run
            )
            return
        if not json_output:
            render_plan(plan, dry_run=False)
        _confirm(f"Run these {len(plan.moves)} moves", yes)
        done = run_rebalance(
            router, plan, chunk_size=chunk_size, on_move=None if json_output else _announce
        )
    print_json(done.to_dict()) if json_output else render_run(done)


def _confirm(what: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError(
            f"{what}: moves copy and delete rows; pass --yes to run "
            "non-interactively (or --dry-run to see the plan)"
        )
    typer.confirm(f"{what}?", abort=True)


def _announce(index: int, move: PlannedMove) -> None:
    console.print(
        f"move {index + 1}: {move.keyspace} [{move.lo:,}, {move.hi:,}) "
        f"{move.source} -> {move.dest} (about {move.load:,})",
        highlight=False,
        markup=False,
    )


def render_plan(plan: RebalancePlan, *, dry_run: bool) -> None:
    """The loads before and after, and the moves in order."""
    table = Table(title=f"load by {plan.by} (map version {plan.map_version})", title_justify="left")
    for column in ("keyspace", "shard", "now", "after the plan"):
        table.add_column(column, justify="left" if column in ("keyspace", "shard") else "right")
    for before, after in zip(plan.before, plan.after, strict=True):
        for shard in before.loads:
            table.add_row(
                before.keyspace, shard, f"{before.loads[shard]:,}", f"{after.loads[shard]:,}"
            )
    console.print(table)
    if not plan.moves:
        console.print(Text("balanced: no move would even the fleet out further", style="green"))
        return
    moves = Table(
        title="plan (dry run: nothing changed)" if dry_run else "plan", title_justify="left"
    )
    for column in ("#", "keyspace", "range [lo, hi)", "from", "to", "kind", plan.by):
        moves.add_column(column, justify="right" if column in ("#", plan.by) else "left")
    for i, m in enumerate(plan.moves, 1):
        moves.add_row(
            str(i),
            m.keyspace,
            f"[{m.lo:,}, {m.hi:,})",
            m.source,
            m.dest,
            "split" if m.split else "whole range",
            f"{m.load:,}",
        )
    console.print(moves)


def render_run(run: RebalanceRun) -> None:
    """One line per move run, then the total."""
    for r in run.results:
        frozen = "-" if r.frozen_seconds is None else f"{r.frozen_seconds:.2f}s"
        console.print(
            f"moved {r.keyspace} [{r.lo:,}, {r.hi:,}) {r.source} -> {r.dest}: "
            f"{r.rows_copied:,} rows in {r.seconds:.1f}s (frozen {frozen})",
            highlight=False,
            markup=False,
        )
    if run.skipped:
        console.print(
            f"already done by an earlier run: moves {', '.join(str(i + 1) for i in run.skipped)}",
            highlight=False,
            markup=False,
        )
    console.print(
        Text(f"rebalance {run.rebalance_id} done: {len(run.plan.moves)} moves", style="green")
    )
