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

from sqlalchemy.engine import Engine

from lms_db.catalog import (
    advance_journal_entry,
    close_journal_entry,
    open_entries,
    open_journal_entry,
    seed_from_topology,
)
from lms_db.catalog.identity import stamp_identities
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import (
    LmsDbError,
    LockTimeout,
    MigrationFailed,
    ShardBusy,
)
from lms_db.fleet.fanout import FanoutPolicy, fan_out
from lms_db.fleet.locks import DEFAULT_LOCK_TIMEOUT
from lms_db.ids.topup import TopUp, top_up_windows
from lms_db.migrate.database import (
    Direction,
    StepEvent,
    apply_steps,
    current_revision,
    locked_connection,
    show_revision,
)
from lms_db.migrate.replication import DEFAULT_REPLICA_TIMEOUT, ReplicaState, wait_for_replica
from lms_db.migrate.targets import Member, Prepared, preflight
from lms_db.router.router import Router
from lms_db.topology.engines import engine_for
from lms_db.topology.spec import DatabaseRef, Topology

log = logging.getLogger(__name__)

#: Results that make a run fail (exit 1).
FAILED_RESULTS = ("failed", "locked", "refused", "replica-timeout", "error", "skipped")


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
        ``replica-timeout`` (a replica did not catch up), ``error`` (lost the server) or
        ``skipped`` (not started: canary failed or ``--fail-fast``).
    :param error: one line saying what went wrong.
    :param applied: revisions applied (or reverted), in order.
    :param replicas: each replica's state after the wait.
    :param seconds: wall time spent on the shard.
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

    @property
    def failed(self) -> bool:
        """Whether this result makes the run fail."""
        return self.result in FAILED_RESULTS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "shard": self.shard, "database": self.database,
            "from": show_revision(self.from_revision), "to": show_revision(self.to_revision),
            "result": self.result, "error": self.error, "applied": list(self.applied),
            "replicas": [r.to_dict() for r in self.replicas], "seconds": round(self.seconds, 3),
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
    :param windows: id windows granted after an OLTP ``up``.
    :param windows_error: why granting them failed (the run fails: inserts could collide).
    """

    target: str
    direction: str
    revision: str | None
    results: tuple[ShardResult, ...]
    seeded: bool = False
    windows: tuple[TopUp, ...] = ()
    windows_error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every shard succeeded (and got its id windows)."""
        return not any(r.failed for r in self.results) and self.windows_error is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "target": self.target, "direction": self.direction,
            "revision": show_revision(self.revision), "ok": self.ok,
            "results": [r.to_dict() for r in self.results],
            "id_windows": [t.to_dict() for t in self.windows],
            "id_windows_error": self.windows_error,
        }


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
    if prepared is None:
        prepared = preflight(
            topology, target=request.target, revision=request.revision, shards=request.shards,
            root=request.root, timeout=request.connect_timeout,
        )
    emit = on_event or (lambda _e: None)
    catalog = _catalog_engine(topology.catalog)
    try:
        seeded = seed_from_topology(catalog, topology)
        worker = _Worker(request, catalog, emit)
        with _events_to(emit) as events:
            results = fan_out(
                list(prepared.members), worker.run, policy=request.policy,
                failed=lambda r: r.failed, skipped=worker.skipped,
                pool=lambda size: _process_pool(size, request, topology.catalog, events),
                pool_work=_run_in_worker,
            )
        run = FleetRun(request.target, request.direction, prepared.revision, tuple(results),
                       seeded)
        if request.target == "oltp" and request.direction == "up":
            done = {r.shard for r in run.results if not r.failed}
            stamp_identities(catalog, [(m.name, m.primary) for m in prepared.members
                                       if m.name in done], timeout=request.connect_timeout)
            run = _grant_windows(run, catalog, topology, request)
    finally:
        catalog.dispose()
    return run


def _grant_windows(run: FleetRun, catalog: Engine, topology: Topology,
                   request: MigrateRequest) -> FleetRun:
    """Step 5: id windows for the shards that are now migrated (see the module's note)."""
    ready = [r.shard for r in run.results if not r.failed and r.to_revision is not None]
    if not ready:
        return run
    try:
        with Router(catalog, topology, max_staleness=0,
                    connect_timeout=request.connect_timeout) as router:
            granted = top_up_windows(router, ready, parallel=request.policy.parallel)
    except LmsDbError as exc:
        log.warning("granting id windows failed: %s", exc.message)
        return replace(run, windows_error=f"granting id windows failed: {exc.message}")
    return replace(run, windows=tuple(granted))


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
    size: int, request: MigrateRequest, catalog: DatabaseRef, events: Any
) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=size, mp_context=_CONTEXT,
                               initializer=_init_worker, initargs=(request, catalog, events))


def _init_worker(request: MigrateRequest, catalog: DatabaseRef, events: Any) -> None:
    global _PROCESS_WORKER
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
        result = ShardResult(member.name, member.primary.display, None, None, "skipped",
                             "not started: an earlier shard failed")
        self.emit(FleetEvent("finish", member.name, result=result))
        return result

    def run(self, member: Member) -> ShardResult:
        self.emit(FleetEvent("start", member.name))
        began = time.monotonic()
        result = self._primary(member)
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
            return ShardResult(member.name, ref.display, start, at, kind, exc.message)

        try:
            with locked_connection(ref, lock_timeout=req.lock_timeout,
                                   timeout=req.connect_timeout, on_wait=on_wait) as conn:
                start = current_revision(conn)
                outcome = self._journaled(member, conn, start)
        except MigrationFailed as exc:
            return failure("failed", exc, exc.revision)
        except LockTimeout as exc:
            return failure("locked", exc, start)
        except ShardBusy as exc:
            return failure("refused", exc, start)
        except LmsDbError as exc:
            return failure("error", exc, start)
        kind = "migrated" if outcome.applied else "current"
        return ShardResult(member.name, ref.display, outcome.from_revision,
                           outcome.to_revision, kind, None, outcome.applied)

    def _journaled(self, member: Member, conn: Any, start: str | None) -> Any:
        req = self.request
        entry = open_journal_entry(
            self.catalog, operation="migrate", step="locked", shard=member.name,
            payload={"target": req.target, "direction": req.direction,
                     "revision": req.revision, "from": show_revision(start)},
        )
        try:
            busy = [e for e in open_entries(self.catalog, member.name)
                    if e.operation != "migrate"]
            if busy:
                first = busy[0]
                raise ShardBusy(
                    f"{member.name}: journal entry {first.id} ({first.operation}, step "
                    f"{first.step}, held by {first.holder}) is open; migrate after it "
                    "finishes (or resume/close it)"
                )

            def on_step(event: StepEvent) -> None:
                step = f"{event.direction}:{event.revision}:{'done' if event.done else 'run'}"
                advance_journal_entry(self.catalog, entry, step=step)
                if not event.done:
                    self.emit(FleetEvent("step", member.name, event.revision))

            outcome = apply_steps(
                conn, member.primary, req.revision, target=req.target,
                direction=req.direction, root=req.root, on_step=on_step,
            )
        except LmsDbError as exc:
            close_journal_entry(self.catalog, entry, state="failed",
                                payload={"error": exc.message})
            raise
        close_journal_entry(self.catalog, entry, state="done",
                            payload={"from": show_revision(outcome.from_revision),
                                     "to": show_revision(outcome.to_revision),
                                     "applied": list(outcome.applied)})
        return outcome

    def _replicas(self, member: Member, result: ShardResult) -> ShardResult:
        req = self.request
        states = tuple(
            wait_for_replica(replica, result.to_revision, timeout=req.replica_timeout,
                             connect_timeout=req.connect_timeout)
            for replica in member.replicas
        )
        late = [s for s in states if s.status != "ok"]
        if not late:
            return replace(result, replicas=states)
        return replace(result, replicas=states, result="replica-timeout",
                       error="; ".join(s.error or s.status for s in late))
