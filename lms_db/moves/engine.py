"""The move engine: a range of a keyspace moves to another shard, verified and fenced.

Steps (docs/moves.md says what each protects against), each journaled by
:mod:`lms_db.fleet.steps` so ``--resume`` finishes a run killed anywhere::

    prepare -> capture -> copy -> catchup -> freeze -> final_delta -> verify -> switch
            -> dest_windows -> source_counters -> delete -> source_windows -> cleanup

``--abort`` (before the switch only) runs ``abort_unfence -> abort_release ->
abort_changelog -> abort_clear``, journaled the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lms_db.catalog import (
    advance_journal_entry,
    close_journal_entry,
    open_entries,
    open_journal_entry,
)
from lms_db.errors import (
    FreezeTimeout,
    LmsDbError,
    OperationError,
    ShardBusy,
    VerifyMismatch,
)
from lms_db.fleet.steps import Step, StepContext, remaining_steps, run_steps
from lms_db.ids.topup import top_up_windows
from lms_db.moves import mapping, phases
from lms_db.moves.fences import lift_destination_fences
from lms_db.moves.key_chunks import top_value
from lms_db.moves.plan import MOVE_OPERATION, MovePlan, MoveRequest, plan_move
from lms_db.moves.replicas import replicas_hold_range, wait_for_lag
from lms_db.moves.same_server import CLIENT_PATH, SERVER_PATH, SameServer, probe
from lms_db.moves.scope import TableScope, insert_order
from lms_db.moves.step_names import ABORT_STEPS, STEPS
from lms_db.moves.verify import SourceChunks, verify_range
from lms_db.router.router import Router

log = logging.getLogger(__name__)

#: Catch-up passes before the freeze is tried anyway.
MAX_CATCHUP_PASSES = 50


@dataclass(frozen=True)
class MoveProgress:
    """A progress report for the CLI's bars.

    :param phase: the step running.
    :param table: the table worked on (``None``: the whole step).
    :param done: rows (or changes) done so far in this table or step.
    :param total: rows expected (``None``: not known).
    """

    phase: str
    table: str | None
    done: int
    total: int | None


ProgressCallback = Callable[[MoveProgress], None]


@dataclass(frozen=True)
class MoveResult:
    """How a move ended.

    :param move_id: its journal entry.
    :param state: ``done`` or ``aborted``.
    :param keyspace: the keyspace.
    :param lo: first key of the range.
    :param hi: first key after it.
    :param source: the shard that served it before.
    :param dest: the shard it moved to.
    :param rows_copied: rows copied (this run and earlier runs of the same move).
    :param changes_applied: changelog entries applied.
    :param rows_deleted: rows deleted from the source (or, aborted, from the destination).
    :param frozen_seconds: from freeze to switch (writes to the range refused meanwhile).
    :param map_version: the map version after the switch (or abort).
    :param seconds: wall time of this run.
    :param copy_path: ``same-server`` (chunks copied by ``INSERT ... SELECT`` on one
        server) or ``client`` (rows read and written by lmsdb); ``None``: no copy ran.
    """

    move_id: int
    state: str
    keyspace: str
    lo: int
    hi: int
    source: str
    dest: str
    rows_copied: int
    changes_applied: int
    rows_deleted: int
    frozen_seconds: float | None
    map_version: int
    seconds: float
    copy_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(vars(self))


class _Move:
    """One move's steps over the shared state (the journal payload)."""

    def __init__(
        self, router: Router, ctx: StepContext, on_progress: ProgressCallback | None
    ) -> None:
        self.router = router
        self.ctx = ctx
        self.state = ctx.state
        self.req = MoveRequest(**self.state["request"])
        self.source: str = self.state["source"]
        self.dest: str = self.state["dest"]
        self.move_id = ctx.entry_id
        self.scopes: list[TableScope] = insert_order(self.req.keyspace)
        self.report = on_progress or (lambda _p: None)
        #: The source's chunks of this run's clean verify pass (the delete cuts and checks
        #: its chunks by them); not journaled: a resumed delete counts its chunks anew.
        self.verified: SourceChunks | None = None

    # -- helpers ---------------------------------------------------------------------

    def _engines(self) -> tuple[Any, Any]:
        return (self.router.engine_for_shard(self.source), self.router.engine_for_shard(self.dest))

    def _throttle(self) -> None:
        phases.wait(self.req.throttle)
        if self.req.max_replica_lag is not None:
            refs = [
                r for name in (self.source, self.dest) for r in self.router.location(name).replicas
            ]
            wait_for_lag(refs, self.req.max_replica_lag)

    def _same_server(self, src: Any, dst: Any) -> SameServer | None:
        """Probe (every run: rights or servers may have changed since) and journal the path."""
        same = probe(src, dst, self.scopes)
        path = SERVER_PATH if same is not None else CLIENT_PATH
        if self.state.get("copy_path") != path:
            log.info("move %d: copy path %s", self.move_id, path)
        self.state["copy_path"] = path
        self.ctx.save()
        return same

    def _counts(self, key: str) -> dict[str, int]:
        counts: dict[str, int] = self.state.setdefault(key, {})
        return counts

    # -- steps -----------------------------------------------------------------------

    def prepare(self, ctx: StepContext) -> None:
        _, dst_engine = self._engines()
        with phases.data_connection(dst_engine) as dst:
            lift_destination_fences(dst, self.scopes, self.req.keyspace, self.req.lo, self.req.hi)
        mapping.mark_moving(
            self.router.catalog, self.req.keyspace, self.req.lo, self.req.hi, self.source
        )

    def capture(self, ctx: StepContext) -> None:
        src_engine, _ = self._engines()
        with phases.data_connection(src_engine) as src:
            phases.install_changelog(
                src,
                self.move_id,
                self.scopes,
                self.req.lo,
                self.req.hi,
                max(self.req.freeze_timeout, 30.0),
            )

    def copy(self, ctx: StepContext) -> None:
        src_engine, dst_engine = self._engines()
        # The last chunk-column value copied per table (key_chunks).  Moves journaled by
        # older lmsdb recorded primary keys under "copy": such a table is copied again.
        progress: dict[str, Any] = self.state.setdefault("copy_keys", {})
        done: list[str] = self.state.setdefault("copied", [])
        # The top chunk-column value per table when its copy began (older lmsdb: the top
        # primary key, "copy_upto", unused now).
        bounds: dict[str, Any] = self.state.setdefault("copy_top", {})
        copied = self._counts("rows")
        totals = self.state.get("estimates", {})
        for name in self.state.pop("copy", {}):
            if name not in done:
                copied.pop(name, None)
        with phases.data_connection(src_engine) as src, phases.data_connection(dst_engine) as dst:
            same = self._same_server(src, dst)
            # A crash may have committed chunks after the last recorded key: clear them.
            for scope in reversed(self.scopes):
                if scope.name not in done:
                    phases.clear_range(
                        dst,
                        scope,
                        self.req.lo,
                        self.req.hi,
                        progress.get(scope.name),
                        self.req.chunk_size,
                    )
            for scope in self.scopes:
                if scope.name in done:
                    continue
                if scope.name not in bounds:
                    bounds[scope.name] = top_value(src, scope, self.req.lo, self.req.hi)
                    src.commit()
                    ctx.save()

                def on_chunk(last: Any, rows: int, scope: TableScope = scope) -> None:
                    progress[scope.name] = last
                    copied[scope.name] = copied.get(scope.name, 0) + rows
                    ctx.save(every=1.0)
                    self.report(
                        MoveProgress("copy", scope.name, copied[scope.name], totals.get(scope.name))
                    )
                    ctx.point("copy:chunk")
                    self._throttle()

                if bounds[scope.name] is not None:
                    phases.copy_table(
                        src,
                        dst,
                        scope,
                        self.req.lo,
                        self.req.hi,
                        progress.get(scope.name),
                        self.req.chunk_size,
                        on_chunk,
                        bounds[scope.name],
                        same,
                    )
                done.append(scope.name)
                ctx.save()

    def _apply_until(self, ctx: StepContext, limit: int, phase: str) -> None:
        src_engine, dst_engine = self._engines()
        applied = self._counts("changes")
        with phases.data_connection(src_engine) as src, phases.data_connection(dst_engine) as dst:
            for _ in range(MAX_CATCHUP_PASSES if limit else 10**9):
                waiting = phases.backlog(src, self.move_id)
                if waiting <= limit:
                    return
                count = phases.apply_changes(
                    src, dst, self.move_id, self.scopes, self.req.lo, self.req.hi
                )
                applied[phase] = applied.get(phase, 0) + count
                self.report(MoveProgress(phase, None, applied[phase], None))
                ctx.point(f"{phase}:batch")
                ctx.save(every=1.0)
                if limit:
                    self._throttle()

    def catchup(self, ctx: StepContext) -> None:
        self._apply_until(ctx, self.req.freeze_backlog, "catchup")

    def freeze(self, ctx: StepContext) -> None:
        src_engine, _ = self._engines()
        catalog, ks, lo, hi = self.router.catalog, self.req.keyspace, self.req.lo, self.req.hi
        mapping.set_state(catalog, ks, lo, hi, self.source, ("moving",), "frozen")
        self.state["frozen_at"] = time.time()
        ctx.save()
        ctx.point("freeze:map")
        with phases.data_connection(src_engine) as src:
            try:
                phases.install_fence(
                    src, self.move_id, self.scopes, ks, lo, hi, self.source, self.req.freeze_timeout
                )
            except FreezeTimeout:
                mapping.set_state(catalog, ks, lo, hi, self.source, ("frozen",), "moving")
                self.state.pop("frozen_at", None)
                raise

    def final_delta(self, ctx: StepContext) -> None:
        repair = self.state.pop("repair", None)
        if repair:
            self._repair(repair)
        self._apply_until(ctx, 0, "final_delta")

    def _repair(self, tables: list[str]) -> None:
        """Re-copy the range after a failed verify, under the fence (nothing changes there).

        Every table is re-copied, not only the differing ones: clearing a parent's rows on
        the destination cascades to its children there.
        """
        log.warning(
            "move %d: re-copying %s [%d, %d) after a failed verify of %s",
            self.move_id,
            self.req.keyspace,
            self.req.lo,
            self.req.hi,
            ", ".join(tables),
        )
        tables = [s.name for s in self.scopes]
        src_engine, dst_engine = self._engines()
        by_name = {s.name: s for s in self.scopes}
        with phases.data_connection(src_engine) as src, phases.data_connection(dst_engine) as dst:
            same = self._same_server(src, dst)
            for scope in reversed(self.scopes):
                if scope.name in tables:
                    phases.clear_range(
                        dst, scope, self.req.lo, self.req.hi, None, self.req.chunk_size
                    )
            for name in [s.name for s in self.scopes if s.name in tables]:
                phases.copy_table(
                    src,
                    dst,
                    by_name[name],
                    self.req.lo,
                    self.req.hi,
                    None,
                    self.req.chunk_size,
                    lambda _last, _rows: None,
                    None,
                    same,
                )

    def verify(self, ctx: StepContext) -> None:
        src_engine, dst_engine = self._engines()
        verified: SourceChunks = {}
        with phases.data_connection(src_engine) as src, phases.data_connection(dst_engine) as dst:
            mismatches = verify_range(
                src,
                dst,
                self.scopes,
                self.req.lo,
                self.req.hi,
                self.req.chunk_size,
                lambda t, n: self.report(MoveProgress("verify", t, n, n)),
                verified,
            )
        if not mismatches:
            self.verified = verified
            return
        # No switch without a clean pass: lift the freeze so the range serves writes again,
        # and let a resume re-freeze, re-copy the differing tables and verify again.
        catalog, ks, lo, hi = self.router.catalog, self.req.keyspace, self.req.lo, self.req.hi
        with phases.data_connection(src_engine) as src:
            phases.remove_fence(src, self.move_id, self.scopes)
        mapping.set_state(catalog, ks, lo, hi, self.source, ("frozen",), "moving")
        self.state["repair"] = sorted({m.table for m in mismatches})
        self.state.pop("frozen_at", None)
        # A resume continues from the freeze (the step after catchup).
        ctx.step = "catchup:done"
        advance_journal_entry(catalog, self.move_id, step=ctx.step, payload=self.state)
        names = [m.name for m in mismatches]
        shown = "; ".join(names[:5]) + (f"; and {len(names) - 5} more" if len(names) > 5 else "")
        raise VerifyMismatch(
            f"move {self.move_id}: verify found {len(names)} chunk(s) that differ between "
            f"{self.source} and {self.dest}: {shown}. Nothing was switched; the range serves "
            f"from {self.source} again. lmsdb shard move --resume {self.move_id} re-copies "
            f"them, or --abort {self.move_id}",
            chunks=names,
        )

    def switch(self, ctx: StepContext) -> None:
        replicas = self.router.location(self.dest).replicas
        if replicas:
            _, dst_engine = self._engines()
            replicas_hold_range(
                self.router, dst_engine, replicas, self.scopes, self.req.lo, self.req.hi
            )
        version = mapping.switch_owner(
            self.router.catalog, self.req.keyspace, self.req.lo, self.req.hi, self.source, self.dest
        )
        if "switched_at" not in self.state:
            self.state["switched_at"] = time.time()
            frozen_at = self.state.get("frozen_at")
            if frozen_at is not None:
                self.state["frozen_seconds"] = round(self.state["switched_at"] - frozen_at, 3)
        self.state["map_version"] = version
        self.router.refresh()

    def _windows(self, shard: str, *, settled_only: bool = False) -> None:
        """Put ``shard``'s id counters in its windows (after the switch, the map changed).

        :raises OperationError: the shard could not be worked on (unreachable, an error):
            the step stops the move, and ``--resume`` tries it again.
        """
        self.router.refresh()
        run = top_up_windows(self.router, [shard], settled_only=settled_only)
        if run.failures:
            lines = "; ".join(f.line for f in run.failures)
            raise OperationError(
                f"id windows of {shard} after the switch: {lines}; the move stopped "
                f"(rerun with --resume to finish it)"
            )
        for action in run.actions:
            if action.error is not None:
                # Not a failure of the move: the shard's owned ranges are full of ids
                # already (it can create no new rows there); the note tells the operator.
                note = f"{action.shard}: {action.error}"
                self.state.setdefault("notes", []).append(note)
                log.warning("%s", note)

    def dest_windows(self, ctx: StepContext) -> None:
        self._windows(self.dest)

    def source_counters(self, ctx: StepContext) -> None:
        # Before the delete, every counter the delete cannot change (on MySQL/MariaDB all
        # of them): there InnoDB's purge of the deleted rows would make the counter's
        # ALTER TABLE wait for it (about 1 s on MariaDB 10.11), and the source creates
        # users again sooner when its counter stood in the moved range (the fence refuses
        # them until then).  The same windows as after the delete (ids.align.settled).
        self._windows(self.source, settled_only=True)

    def delete(self, ctx: StepContext) -> None:
        src_engine, _ = self._engines()
        deleted = self._counts("deleted")

        def tick(table: str, rows: int) -> None:
            deleted[table] = deleted.get(table, 0) + rows
            self.report(MoveProgress("delete", table, deleted[table], None))
            ctx.save(every=1.0)
            ctx.point("delete:chunk")
            self._throttle()

        with phases.data_connection(src_engine) as src:
            # After the switch the changelog is never read (the fence refuses writes to the
            # range): drop its triggers first, so the delete does not log every row it
            # removes (one changelog insert per row, and the cleanup deleting them again).
            phases.drop_triggers(src, "c", self.move_id, self.scopes)
            phases.delete_source(
                src,
                self.move_id,
                self.scopes,
                self.req.lo,
                self.req.hi,
                self.req.chunk_size,
                tick,
                self.verified,
            )

    def source_windows(self, ctx: StepContext) -> None:
        # After the delete: the counters source_counters left (a PostgreSQL sequence below
        # rows of the moved range may now stay below it); nothing to do for the others.
        self._windows(self.source)

    def cleanup(self, ctx: StepContext) -> None:
        src_engine, _ = self._engines()
        with phases.data_connection(src_engine) as src:
            phases.drop_changelog(src, self.move_id, self.scopes)

    # -- abort -----------------------------------------------------------------------

    def abort_unfence(self, ctx: StepContext) -> None:
        src_engine, _ = self._engines()
        with phases.data_connection(src_engine) as src:
            phases.remove_fence(src, self.move_id, self.scopes)

    def abort_release(self, ctx: StepContext) -> None:
        self.state["map_version"] = mapping.release(
            self.router.catalog, self.req.keyspace, self.req.lo, self.req.hi, self.source
        )
        self.router.refresh()

    def abort_changelog(self, ctx: StepContext) -> None:
        src_engine, _ = self._engines()
        with phases.data_connection(src_engine) as src:
            phases.drop_changelog(src, self.move_id, self.scopes)

    def abort_clear(self, ctx: StepContext) -> None:
        _, dst_engine = self._engines()
        cleared = self._counts("cleared")
        with phases.data_connection(dst_engine) as dst:
            for scope in reversed(self.scopes):
                cleared[scope.name] = cleared.get(scope.name, 0) + phases.clear_range(
                    dst, scope, self.req.lo, self.req.hi, None, self.req.chunk_size
                )

    def steps(self, names: tuple[str, ...]) -> list[Step]:
        return [Step(name, getattr(self, name)) for name in names]


def _result(move: _Move, state: str, began: float) -> MoveResult:
    s = move.state
    counts = s.get("cleared" if state == "aborted" else "deleted") or {}
    deleted = sum(counts.values())
    return MoveResult(
        move_id=move.move_id,
        state=state,
        keyspace=move.req.keyspace,
        lo=move.req.lo,
        hi=move.req.hi,
        source=move.source,
        dest=move.dest,
        rows_copied=sum(s.get("rows", {}).values()),
        changes_applied=sum(s.get("changes", {}).values()),
        rows_deleted=deleted,
        frozen_seconds=s.get("frozen_seconds"),
        map_version=int(s.get("map_version") or 0),
        seconds=round(time.monotonic() - began, 3),
        copy_path=s.get("copy_path"),
    )


def _finish(
    router: Router,
    move: _Move,
    names: tuple[str, ...],
    journal_step: str,
    final_state: str,
    began: float,
) -> MoveResult:
    ctx = move.ctx
    try:
        run_steps(
            ctx,
            remaining_steps(move.steps(names), journal_step),
            on_step=lambda name, done: (
                move.report(MoveProgress(name, None, 0, None)) if not done else None
            ),
        )
    except LmsDbError:
        ctx.save()
        raise
    outcome = "done" if final_state == "done" else "failed"
    close_journal_entry(
        router.catalog,
        move.move_id,
        state=outcome,
        step="done" if final_state == "done" else "aborted",
        payload=ctx.state,
    )
    companion = move.state.get("companion")
    if companion is not None:
        close_journal_entry(
            router.catalog,
            int(companion),
            state=outcome,
            payload={"role": "destination", "move": move.move_id},
        )
    return _result(move, final_state, began)


def start_move(
    router: Router,
    request: MoveRequest,
    *,
    on_progress: ProgressCallback | None = None,
    plan: MovePlan | None = None,
) -> MoveResult:
    """Run a new move to the end.

    :param router: the Router of the fleet.
    :param request: what to move where.
    :param on_progress: progress reports (the CLI draws bars from them).
    :param plan: a plan already made by :func:`plan_move` for this request.
    :raises InputError: the checks of :func:`plan_move` (nothing changed).
    :raises ShardBusy: a migration holds the source or the destination.
    :raises OperationError: a step failed; ``--resume`` continues from it.
    """
    began = time.monotonic()
    plan = plan or plan_move(router, request)
    state: dict[str, Any] = {
        "request": request.to_dict(),
        "source": plan.source,
        "dest": request.dest,
        "estimates": {t.table: t.rows for t in plan.tables},
        "map_version_at_plan": plan.map_version,
    }
    catalog = router.catalog
    move_id = open_journal_entry(
        catalog,
        operation=MOVE_OPERATION,
        step="planned",
        shard=plan.source,
        keyspace=request.keyspace,
        lo=request.lo,
        hi=request.hi,
        payload=state,
    )
    companion = open_journal_entry(
        catalog,
        operation=MOVE_OPERATION,
        step="destination",
        shard=request.dest,
        keyspace=request.keyspace,
        lo=request.lo,
        hi=request.hi,
        payload={"role": "destination", "move": move_id},
    )
    state["companion"] = companion
    advance_journal_entry(catalog, move_id, step="planned", payload=state)
    busy = [
        e
        for name in (plan.source, request.dest)
        for e in open_entries(catalog, name, operation="migrate")
    ]
    if busy:
        for entry_id in (move_id, companion):
            close_journal_entry(
                catalog, entry_id, state="failed", payload={"error": "a migration holds the shard"}
            )
        raise ShardBusy(
            f"{busy[0].shard}: a migration (journal entry {busy[0].id}, held by "
            f"{busy[0].holder}) is running; move after it finishes"
        )
    ctx = StepContext(catalog, move_id, state)
    move = _Move(router, ctx, on_progress)
    return _finish(router, move, STEPS, "planned", "done", began)


def resume_move(
    router: Router, move_id: int, *, on_progress: ProgressCallback | None = None
) -> MoveResult:
    """Finish an interrupted move (or an interrupted abort) from its last journaled step.

    :raises InputError: no open move with that id, or its process still runs.
    :raises MapMismatch: the shard map no longer matches the journal.
    """
    from lms_db.moves.journal_view import load_move

    began = time.monotonic()
    entry, state = load_move(router, move_id, resuming=True)
    ctx = StepContext(router.catalog, move_id, state)
    move = _Move(router, ctx, on_progress)
    if state.get("aborting"):
        return _finish(router, move, ABORT_STEPS, entry.step, "aborted", began)
    return _finish(router, move, STEPS, entry.step, "done", began)


def abort_move(
    router: Router, move_id: int, *, on_progress: ProgressCallback | None = None
) -> MoveResult:
    """Roll an unfinished move back: the source serves the range as before, the destination
    holds none of its rows, the triggers and the fence are gone.  Only before the switch.

    :raises InputError: no open move with that id, its process still runs, or the switch
        already happened (finish it with ``--resume`` instead).
    """
    from lms_db.moves.journal_view import load_move

    began = time.monotonic()
    entry, state = load_move(router, move_id, resuming=False)
    ctx = StepContext(router.catalog, move_id, state)
    move = _Move(router, ctx, on_progress)
    step = entry.step
    if not state.get("aborting"):
        state["aborting"] = True
        advance_journal_entry(router.catalog, move_id, step="aborting", payload=state)
        step = "aborting"
    return _finish(router, move, ABORT_STEPS, step, "aborted", began)
