"""``lmsdb shard rebalance``: measure the fleet, plan moves that even it out, run them.

Measuring (:func:`measure_fleet`) happens on each range's owner, on the server: the key
table (``users``, ``courses``) gives ``buckets`` quantile cuts of the range's keys, then one
``GROUP BY`` per table counts its rows per slice (``shard_via`` tables through their
parents).  With ``by="bytes"`` each table's rows weigh its average row size on that shard.
:func:`plan_fleet` hands the loads to the pure planner (:mod:`lms_db.moves.rebalance_plan`).

Running (:func:`run_rebalance`) records the plan in a ``rebalance`` journal entry, then runs
the moves one after another through the move engine (each is journaled and resumable on
its own).  After each move the entry records it as done, so a killed run continues with
:func:`resume_rebalance`: a move left open is resumed, one the map shows finished is
skipped, the others start.  Before a move starts, its source must still own its range:
a map changed by someone else stops the run (re-plan).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.catalog import (
    advance_journal_entry,
    close_journal_entry,
    open_entries,
    open_journal_entry,
    read_journal_entry,
)
from lms_db.errors import InputError, LmsDbError, MapMismatch
from lms_db.fleet.steps import hit
from lms_db.moves.engine import MoveResult, ProgressCallback, resume_move, start_move
from lms_db.moves.plan import DEFAULT_CHUNK_SIZE, MOVE_OPERATION, MoveRequest
from lms_db.moves.range_verify import shard_connection
from lms_db.moves.rebalance_plan import (
    DEFAULT_TOLERANCE,
    Balance,
    Bucket,
    PlannedMove,
    RangeLoad,
    balance_of,
    plan_rebalance,
)
from lms_db.moves.scope import TableScope, keyspace_scopes
from lms_db.router.keys import check_keyspace, key_table
from lms_db.router.router import Router
from lms_db.shards.inventory import _table_bytes
from lms_db.topology.spec import SHARDED_KEYSPACES

log = logging.getLogger(__name__)

#: The journal operation of a rebalance run.
REBALANCE_OPERATION = "rebalance"
#: Slices each range is measured in (the finest cut the planner can choose).
DEFAULT_BUCKETS = 16
MEASURES = ("rows", "bytes")


@dataclass(frozen=True)
class RebalancePlan:
    """A plan and the balance it was made from.

    :param by: ``rows`` or ``bytes``.
    :param map_version: the map it was measured on.
    :param moves: the moves, in the order they run.
    :param before: load per shard per keyspace now.
    :param after: the same once every move is done (as measured).
    """

    by: str
    map_version: int
    moves: tuple[PlannedMove, ...]
    before: tuple[Balance, ...]
    after: tuple[Balance, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (also the journal payload's plan)."""
        return {
            "by": self.by,
            "map_version": self.map_version,
            "moves": [m.to_dict() for m in self.moves],
            "before": [{"keyspace": b.keyspace, "loads": b.loads} for b in self.before],
            "after": [{"keyspace": b.keyspace, "loads": b.loads} for b in self.after],
        }


@dataclass(frozen=True)
class RebalanceRun:
    """How a run ended.

    :param rebalance_id: its journal entry.
    :param plan: the plan it ran.
    :param results: one per move run now (moves done by an earlier run are not repeated).
    :param skipped: indexes of moves found already done.
    """

    rebalance_id: int
    plan: RebalancePlan
    results: tuple[MoveResult, ...]
    skipped: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rebalance_id": self.rebalance_id,
            "plan": self.plan.to_dict(),
            "moves": [r.to_dict() for r in self.results],
            "skipped": list(self.skipped),
        }


def plan_fleet(
    router: Router,
    *,
    keyspace: str | None = None,
    by: str = "rows",
    tolerance: float = DEFAULT_TOLERANCE,
    buckets: int = DEFAULT_BUCKETS,
) -> RebalancePlan:
    """Measure every range and plan the moves that even out each keyspace.

    :param router: the Router.
    :param keyspace: only this keyspace (default: ``user`` and ``course``).
    :param by: balance ``rows`` or ``bytes``.
    :param tolerance: stop when shards differ by at most this share of the mean.
    :param buckets: slices per range (the planner cuts between them).
    :raises InputError: unknown keyspace or measure, bytes on a backend that has no sizes,
        a rebalance already open.
    :raises ConnectionFailed: a shard cannot be reached.
    """
    if by not in MEASURES:
        raise InputError(f"--by must be rows or bytes, not {by!r}")
    if not 0 <= tolerance < 1:
        raise InputError(f"tolerance must be in [0, 1), not {tolerance}")
    if buckets < 1:
        raise InputError(f"buckets must be at least 1, not {buckets}")
    keyspaces = (check_keyspace(keyspace),) if keyspace else SHARDED_KEYSPACES
    version = router.refresh().version
    ranges = measure_fleet(router, keyspaces, by=by, buckets=buckets)
    shards = list(router.shards())
    moves = plan_rebalance(ranges, shards, tolerance=tolerance)
    return RebalancePlan(
        by,
        version,
        tuple(moves),
        tuple(balance_of(ranges, shards)),
        tuple(balance_of(ranges, shards, moves)),
    )


def measure_fleet(
    router: Router, keyspaces: tuple[str, ...], *, by: str = "rows", buckets: int = DEFAULT_BUCKETS
) -> list[RangeLoad]:
    """Every range of ``keyspaces`` with its load in ``buckets`` slices, read on its owner.

    :param router: the Router.
    :param keyspaces: the keyspaces to measure.
    :param by: ``rows`` or ``bytes``.
    :param buckets: slices per range.
    :raises InputError: bytes asked on a backend that reports no table sizes.
    :raises ConnectionFailed: a shard cannot be reached.
    """
    shard_map = router.shard_map
    out = []
    for ks in keyspaces:
        scopes = keyspace_scopes(ks)
        for r in shard_map.for_keyspace(ks):
            with shard_connection(router, r.shard) as conn:
                weights = _weights(conn, scopes, by, r.shard)
                cuts = _cuts(conn, scopes, ks, r.lo, r.hi, buckets)
                loads = _bucket_loads(conn, scopes, r.lo, r.hi, cuts, weights)
            edges = [r.lo, *cuts, r.hi]
            out.append(
                RangeLoad(
                    ks,
                    r.lo,
                    r.hi,
                    r.shard,
                    tuple(
                        Bucket(a, b, load)
                        for (a, b), load in zip(itertools.pairwise(edges), loads, strict=True)
                    ),
                )
            )
    return out


def _weights(conn: Connection, scopes: list[TableScope], by: str, shard: str) -> dict[str, float]:
    """Load of one row per table: 1, or its average size in bytes on this shard."""
    if by == "rows":
        return {s.name: 1.0 for s in scopes}
    sizes = _table_bytes(conn)
    if sizes is None:
        raise InputError(
            f"{shard} does not report table sizes ({conn.dialect.name} without "
            "dbstat): rebalance --by rows"
        )
    weights = {}
    for s in scopes:
        rows = conn.execute(sa.select(sa.func.count()).select_from(s.table)).scalar_one()
        weights[s.name] = sizes.get(s.name, 0) / rows if rows else 0.0
    return weights


def _key_scope(scopes: list[TableScope], keyspace: str) -> TableScope:
    return next(s for s in scopes if key_table(s.table) == keyspace)


def _cuts(
    conn: Connection, scopes: list[TableScope], keyspace: str, lo: int, hi: int, buckets: int
) -> list[int]:
    """Keys cutting ``[lo, hi)`` into slices of about equal key-table rows (index walks)."""
    scope = _key_scope(scopes, keyspace)
    key = scope.table.c[scope.key_column]
    inside = sa.and_(key >= lo, key < hi)
    total = conn.execute(sa.select(sa.func.count()).where(inside)).scalar_one()
    cuts: list[int] = []
    for i in range(1, buckets):
        offset = math.floor(i * total / buckets)
        if offset <= 0 or offset >= total:
            continue
        value = conn.execute(
            sa.select(key).where(inside).order_by(key).limit(1).offset(offset)
        ).scalar()
        if value is not None and lo < int(value) < hi and (not cuts or int(value) > cuts[-1]):
            cuts.append(int(value))
    return cuts


def _bucket_loads(
    conn: Connection,
    scopes: list[TableScope],
    lo: int,
    hi: int,
    cuts: list[int],
    weights: dict[str, float],
) -> list[int]:
    """Load per slice: one ``GROUP BY`` per table on the server."""
    loads = [0.0] * (len(cuts) + 1)
    existing = set(sa.inspect(conn).get_table_names())
    for scope in scopes:
        if scope.name not in existing:
            continue
        tables = [scope.table, *(h.parent for h in scope.hops)]
        joined: sa.FromClause = scope.table
        for index, hop in enumerate(scope.hops):
            joined = joined.join(
                hop.parent, tables[index].c[hop.child_column] == hop.parent.c[hop.parent_column]
            )
        key = scope.key_table.c[scope.key_column]
        slot: sa.ColumnElement[Any] = (
            sa.case(*((key < cut, i) for i, cut in enumerate(cuts)), else_=len(cuts))
            if cuts
            else sa.literal(0)
        )
        labelled = slot.label("slot")
        rows = conn.execute(
            sa.select(labelled, sa.func.count())
            .select_from(joined)
            .where(key >= lo, key < hi)
            .group_by(labelled)
        ).all()
        for index, count in rows:
            loads[int(index)] += int(count) * weights[scope.name]
    return [round(v) for v in loads]


def run_rebalance(
    router: Router,
    plan: RebalancePlan,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_move: Callable[[int, PlannedMove], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> RebalanceRun:
    """Record ``plan`` in the journal and run its moves one after another.

    :param router: the Router.
    :param plan: from :func:`plan_fleet`.
    :param chunk_size: rows per copy, verify and delete chunk of each move.
    :param on_move: called before each move starts (index, move).
    :param on_progress: the move engine's progress reports.
    :raises InputError: a rebalance is already open (resume or abandon it first).
    :raises MapMismatch: the map changed since the plan (re-plan).
    :raises OperationError: a move failed; :func:`resume_rebalance` continues.
    """
    already = open_entries(router.catalog, operation=REBALANCE_OPERATION)
    if already:
        raise InputError(
            f"rebalance {already[0].id} is still open: lmsdb shard rebalance "
            f"--resume {already[0].id} (or --abandon {already[0].id})"
        )
    if router.refresh().version != plan.map_version:
        raise MapMismatch(
            f"the shard map changed since the plan (version {plan.map_version}, "
            f"now {router.map_version}): plan again"
        )
    state = {"plan": plan.to_dict(), "chunk_size": chunk_size, "done": []}
    entry = open_journal_entry(
        router.catalog, operation=REBALANCE_OPERATION, step="planned", payload=state
    )
    return _run(router, entry, plan, state, on_move, on_progress)


def resume_rebalance(
    router: Router,
    rebalance_id: int,
    *,
    on_move: Callable[[int, PlannedMove], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> RebalanceRun:
    """Continue an interrupted rebalance from the plan in its journal entry.

    :param router: the Router.
    :param rebalance_id: the entry (``lmsdb shard moves`` and ``--json`` name it).
    :raises InputError: no open rebalance with that id.
    """
    entry = read_journal_entry(router.catalog, rebalance_id)
    if entry.operation != REBALANCE_OPERATION or entry.state != "open":
        raise InputError(f"journal entry {rebalance_id} is not an open rebalance")
    state = dict(entry.payload)
    return _run(router, rebalance_id, plan_from_dict(state["plan"]), state, on_move, on_progress)


def abandon_rebalance(router: Router, rebalance_id: int) -> None:
    """Close an open rebalance without running the rest of its moves.

    A move it left open stays open (``lmsdb shard move --resume`` or ``--abort`` it).

    :raises InputError: no open rebalance with that id.
    """
    entry = read_journal_entry(router.catalog, rebalance_id)
    if entry.operation != REBALANCE_OPERATION or entry.state != "open":
        raise InputError(f"journal entry {rebalance_id} is not an open rebalance")
    close_journal_entry(
        router.catalog, rebalance_id, state="failed", step="abandoned", payload=entry.payload
    )


def plan_from_dict(data: dict[str, Any]) -> RebalancePlan:
    """The plan recorded in a journal entry.

    :param data: :meth:`RebalancePlan.to_dict` output.
    """
    return RebalancePlan(
        data["by"],
        int(data["map_version"]),
        tuple(PlannedMove(**m) for m in data["moves"]),
        tuple(Balance(b["keyspace"], dict(b["loads"])) for b in data["before"]),
        tuple(Balance(b["keyspace"], dict(b["loads"])) for b in data["after"]),
    )


def _run(
    router: Router,
    entry: int,
    plan: RebalancePlan,
    state: dict[str, Any],
    on_move: Callable[[int, PlannedMove], None] | None,
    on_progress: ProgressCallback | None,
) -> RebalanceRun:
    results: list[MoveResult] = []
    skipped: list[int] = []
    done: list[int] = list(state.get("done", []))
    for index, move in enumerate(plan.moves):
        if index in done:
            continue
        hit("rebalance:move")
        if on_move is not None:
            on_move(index, move)
        try:
            result = _one_move(
                router, move, int(state.get("chunk_size", DEFAULT_CHUNK_SIZE)), on_progress
            )
        except LmsDbError as exc:
            # The entry stays open: say how to continue the whole plan, not only the move.
            exc.message = (
                f"{exc.message} (rebalance {entry}, move {index + 1} of "
                f"{len(plan.moves)}: lmsdb shard rebalance --resume {entry})"
            )
            exc.args = (exc.message,)
            raise
        if result is None:
            skipped.append(index)
        else:
            results.append(result)
        done.append(index)
        state["done"] = done
        advance_journal_entry(router.catalog, entry, step=f"move {index + 1} done", payload=state)
    close_journal_entry(router.catalog, entry, state="done", step="done", payload=state)
    return RebalanceRun(entry, plan, tuple(results), tuple(skipped))


def _one_move(
    router: Router, move: PlannedMove, chunk_size: int, on_progress: ProgressCallback | None
) -> MoveResult | None:
    """Resume the move left open on this range, skip it if done, else start it."""
    for entry in open_entries(router.catalog, operation=MOVE_OPERATION):
        if (
            (entry.keyspace, entry.lo, entry.hi) == (move.keyspace, move.lo, move.hi)
            and isinstance(entry.payload, dict)
            and "request" in entry.payload
        ):
            return resume_move(router, entry.id, on_progress=on_progress)
    ranges = router.refresh().for_keyspace(move.keyspace)
    holding = [r for r in ranges if r.lo < move.hi and move.lo < r.hi]
    if (
        holding
        and all(r.shard == move.dest for r in holding)
        and holding[0].lo <= move.lo
        and move.hi <= holding[-1].hi
    ):
        return None  # a killed run finished this move before recording it
    if len(holding) != 1 or holding[0].shard != move.source or move.hi > holding[0].hi:
        raise MapMismatch(
            f"{move.keyspace} [{move.lo}, {move.hi}) is no longer inside one range of "
            f"{move.source} (the map changed since the plan): abandon this rebalance and "
            "plan again"
        )
    request = MoveRequest(move.keyspace, move.lo, move.hi, move.dest, chunk_size=chunk_size)
    return start_move(router, request, on_progress=on_progress)
