"""``lmsdb migrate up|down`` over the fleet: checks, catalog, canary, fan-out, replicas.

The protocol for each shard primary (:func:`migrate_fleet`):

1. before anything: :func:`~lms_db.migrate.targets.preflight` (exit 2 on bad input);
2. the catalog is created/upgraded and, the first time, seeded from the topology;
3. per shard, canary first then ``parallel`` at a time: take the database's migration lock,
   open a ``migrate`` journal entry, refuse if a move or archive entry holds the shard, apply
   each pending revision as its own step (the journal records each), close the entry;
4. wait for each replica of the shard to report the new revision (``replica_timeout``);
5. after an OLTP ``up``: grant id windows where a migrated shard has none for a table, or is
   running low (:func:`~lms_db.ids.topup.top_up_windows`), so the application's first
   inserts already draw ids no other shard hands out.

Each shard's outcome is a :class:`ShardResult`; the run never raises for a shard's failure.

Parallel shards run in worker processes (``forkserver``), never threads: Alembic's ``op`` and
``context`` are process-wide proxies, so two migrations cannot share a process.  As with any
:mod:`multiprocessing` user, a script calling :func:`migrate_fleet` with ``parallel`` > 1
needs an ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import lms_db.interrupts as interrupts
from lms_db.catalog import open_entries, seed_from_topology
from lms_db.catalog.identity import stamp_identities
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import (
    InputError,
    Interrupted,
    LmsDbError,
    LockTimeout,
    MigrationFailed,
    ShardBusy,
)
from lms_db.fleet.fanout import FanoutPolicy, fan_out
from lms_db.fleet.locks import DEFAULT_LOCK_TIMEOUT
from lms_db.ids.align import CounterAction
from lms_db.ids.topup import top_up_windows
from lms_db.migrate.database import (
    Direction,
    StepEvent,
    apply_steps,
    current_revision,
    locked_connection,
    read_revision,
    show_revision,
)
from lms_db.migrate.replication import DEFAULT_REPLICA_TIMEOUT, ReplicaState, wait_for_replica
from lms_db.migrate.shard_journal import MigrationJournal
from lms_db.migrate.targets import Member, Prepared, preflight
from lms_db.router.router import Router
from lms_db.topology.engines import engine_for
from lms_db.topology.failures import describe, shard_failure
from lms_db.topology.spec import DatabaseRef, Topology

log = logging.getLogger(__name__)

#: Results that make a run fail (exit 1).
FAILED_RESULTS = (
    "failed",
    "locked",
    "refused",
    "replica-timeout",
    "error",
    "skipped",
    "interrupted",
)


@dataclass(frozen=True)
class MigrateRequest:
    """What ``lmsdb migrate up|down`` was asked to do.

    :param target: ``oltp`` (shard primaries) or ``analytics``.
    :param revision: where to go: ``head``, ``base``, an id or a unique prefix.
    :param direction: ``up`` or ``down``.
    :param shards: only these shards (all when empty).
    :param policy: parallelism, canary and fail-fast.
    :param replica_timeout: seconds to wait for each replica to catch up.
    :param lock_timeout: seconds to wait for another run's lock on a database.
    :param connect_timeout: seconds to wait for each server.
    :param root: a migrations directory to use instead of lmsdb's own.
    """

    target: str = "oltp"
    revision: str = "head"
    direction: Direction = "up"
    shards: tuple[str, ...] = ()
    policy: FanoutPolicy = field(default_factory=FanoutPolicy)
    replica_timeout: float = DEFAULT_REPLICA_TIMEOUT
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    root: Path | None = None


@dataclass(frozen=True)
class ShardResult:
    """How one shard fared.

    :param shard: the shard's name (``analytics`` for the analytics database).
    :param database: its primary (masked URL).
    :param from_revision: the revision found under the lock (``None``: base).
    :param to_revision: the revision it is at now.
    :param result: ``migrated``, ``current`` (nothing to do), ``failed`` (a revision failed),
        ``locked`` (another run held the lock), ``refused`` (a move/archive holds the shard),
        ``replica-timeout`` (a replica did not catch up), ``error`` (lost the server),
        ``interrupted`` (SIGINT/SIGTERM: stopped at a safe point; a rerun finishes it) or
        ``skipped`` (not started: canary failed, ``--fail-fast`` or an interrupt).
    :param error: one line saying what went wrong.
    :param applied: revisions applied (or reverted), in order.
    :param replicas: each replica's state after the wait.
    :param seconds: wall time spent on the shard.
    :param known: whether ``from_revision``/``to_revision`` were read (a skipped shard, or one
        whose database could not be read, has none: shown as ``-``, never as ``base``).
    """

    shard: str
    database: str
    from_revision: str | None
    to_revision: str | None
    result: str
    error: str | None = None
    applied: tuple[str, ...] = ()
    replicas: tuple[ReplicaState, ...] = ()
    seconds: float = 0.0
    known: bool = True

    @property
    def failed(self) -> bool:
        """Whether this result makes the run fail."""
        return self.result in FAILED_RESULTS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "shard": self.shard,
            "database": self.database,
            "from": show_revision(self.from_revision) if self.known else None,
            "to": show_revision(self.to_revision) if self.known else None,
            "result": self.result,
            "error": self.error,
            "applied": list(self.applied),
            "replicas": [r.to_dict() for r in self.replicas],
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class FleetEvent:
    """Progress of a run, for a progress display (sent from worker threads).

    :param kind: ``start`` (shard begins), ``wait`` (lock busy), ``step`` (revision starts),
        ``replicas`` (waiting for replicas) or ``finish`` (shard done; ``result`` set).
    :param shard: the shard.
    :param message: the revision for ``step``, a sentence for ``wait``.
    :param result: the shard's result, for ``finish``.
    """

    kind: str
    shard: str
    message: str = ""
    result: ShardResult | None = None


EventCallback = Callable[[FleetEvent], None]


@dataclass(frozen=True)
class FleetRun:
    """The outcome of a fleet run.

    :param target: ``oltp`` or ``analytics``.
    :param direction: ``up`` or ``down``.
    :param revision: the revision asked for, resolved (``None``: base).
    :param results: one per shard, in topology order.
    :param seeded: whether this run seeded the catalog from the topology.
    :param windows: counters given a window or moved into one after an OLTP ``up``.
    :param windows_error: why granting them failed (the run fails: inserts could collide).
    :param interrupted: SIGINT/SIGTERM stopped the run at a safe point (exit 130).
    """

    target: str
    direction: str
    revision: str | None
    results: tuple[ShardResult, ...]
    seeded: bool = False
    windows: tuple[CounterAction, ...] = ()
    windows_error: str | None = None
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        """Whether every shard succeeded (and got its id windows)."""
        return not any(r.failed for r in self.results) and self.windows_error is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "target": self.target,
            "direction": self.direction,
            "revision": show_revision(self.revision),
            "ok": self.ok,
            "results": [r.to_dict() for r in self.results],
            "id_windows": [t.to_dict() for t in self.windows],
            "id_windows_error": self.windows_error,
            "interrupted": self.interrupted,
        }


def check_request(request: MigrateRequest) -> None:
    """Refuse a request that could only do nothing by mistake.

    :raises InputError: ``migrate up base`` (an upgrade never removes revisions).
    """
    if request.direction == "up" and request.revision.strip().lower() == "base":
        raise InputError(
            "migrate up base changes nothing (an upgrade never reverts): to "
            "remove the schema, run lmsdb migrate down base"
        )


def migrate_fleet(
    topology: Topology,
    request: MigrateRequest,
    *,
    on_event: EventCallback | None = None,
    prepared: Prepared | None = None,
) -> FleetRun:
    """Bring every selected shard primary to ``request.revision`` and wait for its replicas.

    :param topology: the validated topology.
    :param request: what to do.
    :param on_event: progress callback (called from worker threads).
    :param prepared: the result of :func:`preflight` if the caller already ran it.
    :returns: every shard's result; check :attr:`FleetRun.ok`.
    :raises InputError: bad input, found before anything changed (see
        :func:`~lms_db.migrate.targets.preflight`).
    :raises CatalogError: the catalog could not be created or seeded.
    """
    check_request(request)
    if prepared is None:
        prepared = preflight(
            topology,
            target=request.target,
            revision=request.revision,
            shards=request.shards,
            root=request.root,
            timeout=request.connect_timeout,
        )
    emit = on_event or (lambda _e: None)
    catalog = _catalog_engine(topology.catalog)
    interrupts.reset()
    stop = _CONTEXT.Event()  # set by a signal here: workers stop at their next safe point
    interrupts.share(stop)
    try:
        with interrupts.handle_signals():
            seeded = seed_from_topology(catalog, topology)
            worker = _Worker(request, catalog, emit)
            with _events_to(emit) as events:
                results = fan_out(
                    list(prepared.members),
                    worker.run,
                    policy=request.policy,
                    failed=lambda r: r.failed,
                    skipped=worker.skipped,
                    pool=lambda size: _process_pool(size, request, topology.catalog, events, stop),
                    pool_work=_run_in_worker,
                    should_stop=interrupts.stop_requested,
                    crashed=worker.crashed,
                )
            run = FleetRun(
                request.target,
                request.direction,
                prepared.revision,
                tuple(results),
                seeded,
                interrupted=interrupts.stop_requested(),
            )
            if request.target == "oltp" and request.direction == "up" and not run.interrupted:
                done = {r.shard for r in run.results if not r.failed}
                stamp_identities(
                    catalog,
                    [(m.name, m.primary) for m in prepared.members if m.name in done],
                    timeout=request.connect_timeout,
                )
                run = _grant_windows(run, catalog, topology, request)
    finally:
        interrupts.share(None)
        catalog.dispose()
    return run


def interrupted_summary(run: FleetRun) -> str:
    """One line for an interrupted run: what was done, what was not, how to finish."""
    by: dict[str, list[str]] = {}
    for r in run.results:
        by.setdefault(r.result, []).append(
            f"{r.shard} at {show_revision(r.to_revision)}" if r.result != "skipped" else r.shard
        )
    parts = [f"{kind}: {', '.join(names)}" for kind, names in by.items()]
    return (
        f"migrate {run.direction} interrupted at a safe point ({'; '.join(parts)}); "
        f"rerun lmsdb migrate {run.direction} to finish (each shard resumes where it "
        "stopped; a revision left halfway is finished statement by statement)"
    )


def _grant_windows(
    run: FleetRun, catalog: Engine, topology: Topology, request: MigrateRequest
) -> FleetRun:
    """Step 5: id windows for the shards that are now migrated (see the module's note)."""
    ready = [r.shard for r in run.results if not r.failed and r.to_revision is not None]
    if not ready:
        return run
    try:
        with Router(
            catalog, topology, max_staleness=0, connect_timeout=request.connect_timeout
        ) as router:
            topped = top_up_windows(router, ready, parallel=request.policy.parallel)
    except LmsDbError as exc:
        log.warning("granting id windows failed: %s", exc.message)
        return replace(run, windows_error=f"granting id windows failed: {exc.message}")
    error = "; ".join(topped.errors) or None
    return replace(
        run, windows=topped.actions, windows_error=None if error is None else f"id windows: {error}"
    )


def _catalog_engine(ref: DatabaseRef) -> Engine:
    database = ref.url.database or ""
    if ref.dialect == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    return engine_for(ref)


@contextmanager
def _events_to(emit: EventCallback) -> Iterator[Any]:
    """A queue worker processes put events on, drained into ``emit`` by a thread here."""
    queue = _CONTEXT.Queue()

    def drain() -> None:
        while (event := queue.get()) is not None:
            emit(event)

    thread = threading.Thread(target=drain, name="lmsdb-events", daemon=True)
    thread.start()
    try:
        yield queue
    finally:
        queue.put(None)
        thread.join()
        queue.close()
        queue.join_thread()


_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["lms_db.migrate.run"])
#: The worker of this process, when it is a pool process (set by :func:`_init_worker`).
_PROCESS_WORKER: _Worker | None = None


def _process_pool(
    size: int, request: MigrateRequest, catalog: DatabaseRef, events: Any, stop: Any
) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=size,
        mp_context=_CONTEXT,
        initializer=_init_worker,
        initargs=(request, catalog, events, stop),
    )


def _init_worker(request: MigrateRequest, catalog: DatabaseRef, events: Any, stop: Any) -> None:
    global _PROCESS_WORKER
    # Ctrl-C reaches the whole process group: a worker stops at its next safe point too.
    interrupts.install_in_worker()
    interrupts.share(stop)
    _PROCESS_WORKER = _Worker(request, _catalog_engine(catalog), events.put)


def _run_in_worker(member: Member) -> ShardResult:
    if _PROCESS_WORKER is None:  # pragma: no cover - the pool's initializer always runs
        raise RuntimeError("lmsdb worker process was not initialized")
    return _PROCESS_WORKER.run(member)


@dataclass
class _Worker:
    request: MigrateRequest
    catalog: Engine
    emit: EventCallback

    def skipped(self, member: Member) -> ShardResult:
        why = (
            "not started: interrupted"
            if interrupts.stop_requested()
            else "not started: an earlier shard failed"
        )
        result = ShardResult(
            member.name, member.primary.display, None, None, "skipped", why, known=False
        )
        self.emit(FleetEvent("finish", member.name, result=result))
        return result

    def crashed(self, member: Member, exc: BaseException) -> ShardResult:
        """The result of a shard whose worker process died (killed, out of memory)."""
        failure = shard_failure(member.name, member.primary.display, exc)
        return ShardResult(
            member.name,
            member.primary.display,
            None,
            None,
            "error",
            f"the worker process died ({failure.message}); rerun to resume",
            known=False,
        )

    def run(self, member: Member) -> ShardResult:
        self.emit(FleetEvent("start", member.name))
        began = time.monotonic()
        try:
            result = self._primary(member)
        except Exception as exc:  # never let one shard's surprise hide the others' results
            log.exception("%s: unexpected failure", member.name)
            result = ShardResult(
                member.name, member.primary.display, None, None, "error", describe(exc)
            )
        if not result.failed and member.replicas:
            self.emit(FleetEvent("replicas", member.name))
            result = self._replicas(member, result)
        result = replace(result, seconds=time.monotonic() - began)
        self.emit(FleetEvent("finish", member.name, result=result))
        return result

    def _primary(self, member: Member) -> ShardResult:
        req, ref = self.request, member.primary
        start: str | None = None

        def on_wait(message: str) -> None:
            self.emit(FleetEvent("wait", member.name, message))

        def failure(kind: str, exc: LmsDbError, at: str | None) -> ShardResult:
            if kind == "locked" and start is None:
                # The lock was never ours, so the revision was not read under it: read it
                # now (read-only), rather than show "base" for a migrated database.
                try:
                    seen = read_revision(ref, timeout=req.connect_timeout)
                except LmsDbError:
                    return ShardResult(
                        member.name, ref.display, None, None, kind, exc.message, known=False
                    )
                return ShardResult(member.name, ref.display, seen, seen, kind, exc.message)
            return ShardResult(member.name, ref.display, start, at, kind, exc.message)

        try:
            with locked_connection(
                ref, lock_timeout=req.lock_timeout, timeout=req.connect_timeout, on_wait=on_wait
            ) as conn:
                start = current_revision(conn)
                outcome = self._journaled(member, conn, start)
        except Interrupted as exc:
            return ShardResult(
                member.name,
                ref.display,
                start,
                exc.revision,
                "interrupted",
                exc.message,
                exc.applied,
            )
        except MigrationFailed as exc:
            return failure("failed", exc, exc.revision)
        except LockTimeout as exc:
            return failure("locked", exc, start)
        except ShardBusy as exc:
            return failure("refused", exc, start)
        except LmsDbError as exc:
            return failure("error", exc, start)
        except (sa.exc.SQLAlchemyError, OSError) as exc:  # the server went away meanwhile
            lost = shard_failure(member.name, ref.display, exc, password=ref.url.password)
            return ShardResult(member.name, ref.display, start, start, "error", lost.message)
        kind = "migrated" if outcome.applied else "current"
        return ShardResult(
            member.name,
            ref.display,
            outcome.from_revision,
            outcome.to_revision,
            kind,
            None,
            outcome.applied,
        )

    def _journaled(self, member: Member, conn: Any, start: str | None) -> Any:
        req = self.request
        journal = MigrationJournal(
            self.catalog,
            member.name,
            {
                "target": req.target,
                "direction": req.direction,
                "revision": req.revision,
                "from": show_revision(start),
            },
        )
        journal.open()
        try:
            busy = [e for e in open_entries(self.catalog, member.name) if e.operation != "migrate"]
            if busy:
                first = busy[0]
                raise ShardBusy(
                    f"{member.name}: journal entry {first.id} ({first.operation}, step "
                    f"{first.step}, held by {first.holder}) is open; migrate after it "
                    f"finishes (lmsdb journal show {first.id})"
                )

            def on_step(event: StepEvent) -> None:
                journal.advance(
                    f"{event.direction}:{event.revision}:{'done' if event.done else 'run'}"
                )
                if not event.done:
                    self.emit(FleetEvent("step", member.name, event.revision))

            with journal.heartbeat():
                outcome = apply_steps(
                    conn,
                    member.primary,
                    req.revision,
                    target=req.target,
                    direction=req.direction,
                    root=req.root,
                    on_step=on_step,
                    resume=journal.resume,
                    on_statement=journal.record,
                )
        except Interrupted as exc:
            journal.close("failed", outcome="interrupted", error=exc.message)
            raise
        except LmsDbError as exc:
            journal.close("failed", outcome="failed", error=exc.message)
            raise
        except BaseException as exc:
            journal.close("failed", outcome="failed", error=describe(exc))
            raise
        journal.close(
            "done",
            outcome="done",
            to=show_revision(outcome.to_revision),
            applied=list(outcome.applied),
        )
        return outcome

    def _replicas(self, member: Member, result: ShardResult) -> ShardResult:
        req = self.request
        states = tuple(
            wait_for_replica(
                replica,
                result.to_revision,
                timeout=req.replica_timeout,
                connect_timeout=req.connect_timeout,
            )
            for replica in member.replicas
        )
        late = [s for s in states if s.status != "ok"]
        if not late:
            return replace(result, replicas=states)
        return replace(
            result,
            replicas=states,
            result="replica-timeout",
            error="; ".join(s.error or s.status for s in late),
        )
