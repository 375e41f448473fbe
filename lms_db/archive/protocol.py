"""One shard's archive run: the per-chunk protocol, journaled step by step.

For each chunk, in primary-key order (``docs/archive.md`` has the picture):

1. take it (:mod:`lms_db.archive.take`): the parent rows after the cursor that pass the
   filter, locked, and their children, read by the statements that delete them, in a
   transaction left open;
2. encode and compress them; journal the chunk as ``read`` (its ids, counts, digest);
3. upload to its deterministic key with a SHA-256 checksum, storage class, encryption;
4. verify the stored object (read back in one GET, its size and SHA-256; cold classes:
   HEAD, size and stored checksum);
   journal ``verified``; commit the take;
5. store the chunk's part object (``archived``), then journal it.

When every chunk is done the run manifest, listing the parts, is written once
(:mod:`lms_db.archive.manifest`).  Neither the journal payload nor any object grows with
the run: the payload keeps the cursor, the two chunk slots and running totals.

Crash recovery (a rerun finds the open journal entry): the crash rolled back every take
not committed.  A chunk journaled ``read`` had nothing deleted, so its object, if any, is
deleted and the chunk taken again; a chunk journaled ``verified`` is checked against the
table: none of its parents left means the delete committed; otherwise the guarded delete
(:func:`~lms_db.archive.guarded_delete.guarded_delete`) deletes the rows if they are still
exactly the object's and leaves them (the object superseded) if anything changed since.
So every row is in the table or in exactly one live object of the manifest, never
neither, never both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lms_db.archive import journal
from lms_db.archive.chunks import candidate_query, packed_ids, parent_ids, unpacked_ids
from lms_db.archive.codec import Chunk, encode_chunk
from lms_db.archive.filters import RowFilter
from lms_db.archive.guarded_delete import guarded_delete, parents_left
from lms_db.archive.hooks import pause_point
from lms_db.archive.manifest import (
    MANIFEST_FORMAT,
    Manifest,
    add_record,
    chunk_key,
    empty_totals,
    payload_totals,
)
from lms_db.archive.s3 import Encryption, Store
from lms_db.archive.scout import Scout, scout
from lms_db.archive.tables import ArchiveGroup
from lms_db.archive.take import LOCK_WAIT, ChunkTaker, LockWait, takers
from lms_db.archive.throttle import LagThrottle
from lms_db.errors import OperationError
from lms_db.fleet.steps import Step, StepContext, remaining_steps, run_steps

log = logging.getLogger(__name__)

#: Seconds a take may wait in all on rows another session keeps locked (the server's own
#: default lock wait is 50 s) before the run stops.
LOCK_PATIENCE = 50
#: :meth:`ShardArchiver._take`'s answer when the run's own open chunk must commit first.
_HELD_FIRST: Any = object()


@dataclass(frozen=True)
class ArchiveOptions:
    """What one archive run does (the same on every shard)."""

    group: ArchiveGroup
    row_filter: RowFilter
    bucket: str
    prefix: str
    storage_class: str = "STANDARD"
    encryption: Encryption = field(default_factory=Encryption)
    chunk_size: int = 1000
    no_delete: bool = False
    signature: dict[str, Any] = field(default_factory=dict)
    to_table: str | None = None


@dataclass(frozen=True)
class ChunkEvent:
    """Progress of one shard, for the CLI's progress display."""

    shard: str
    chunk: int
    state: str  # archived, copied, superseded
    rows: int


@dataclass
class ShardOutcome:
    """What a shard's run did."""

    shard: str
    run: str
    state: str = "done"  # done, failed, locked, refused, skipped
    chunks: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    superseded_rows: int = 0
    resumed: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "run": self.run,
            "state": self.state,
            "chunks": self.chunks,
            "rows": self.rows,
            "bytes": self.bytes,
            "superseded_rows": self.superseded_rows,
            "resumed": self.resumed,
            "error": self.error,
        }


def new_payload(
    options: ArchiveOptions, run: str, shard: str, revision: str | None
) -> dict[str, Any]:
    """A fresh journal payload for ``run`` on ``shard``."""
    group = options.group
    manifest = {
        "format": MANIFEST_FORMAT,
        "run": run,
        "table": group.parent.name,
        "tables": [t.name for t in group.tables],
        "shard": shard,
        "bucket": options.bucket,
        "prefix": options.prefix,
        "schema_revision": revision,
        "storage_class": options.storage_class,
        "encryption": options.encryption.mode,
        "kms_key_id": options.encryption.kms_key_id,
        "filter": options.row_filter.to_dict(),
        "no_delete": options.no_delete,
        "shard_key": group.shard_key,
        "pk": group.pk,
        "to_table": options.to_table,
        "state": "running",
        "created_at": _now(),
    }
    return {
        "run": run,
        "table": group.parent.name,
        "signature": options.signature,
        "cursor": None,
        "next_chunk": 1,
        "inflight": None,
        "ahead": None,
        "totals": empty_totals(),
        "manifest": manifest,
    }


#: Seconds within which a chunk's finish leaves its journal write to the next write.
FINISH_SAVE_EVERY = 1.0


class ShardArchiver:
    """Runs (or resumes) the archive of one shard; the caller holds the shard's lock."""

    def __init__(
        self,
        *,
        engine: Engine,
        catalog: Engine,
        store: Store,
        options: ArchiveOptions,
        shard: str,
        entry_id: int,
        payload: dict[str, Any],
        on_chunk: Callable[[ChunkEvent], None] | None = None,
        throttle: LagThrottle | None = None,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.store = store
        self.options = options
        self.group = options.group
        self.shard = shard
        self.entry_id = entry_id
        self.payload = payload
        self.manifest = Manifest.of_header(payload["manifest"])
        self.on_chunk = on_chunk
        self.throttle = throttle
        self.dialect = engine.dialect.name
        # Guards the payload (journal state) shared by the pipeline's threads.
        self._lock = threading.RLock()
        # The previous chunk's finish, running in the pipeline's part thread.
        self._finishing: Future[None] | None = None

    # -- the loop ---------------------------------------------------------------------------

    def run(self, journal_step: str = "start") -> None:
        """Archive every eligible row after the cursor, then mark the manifest complete.

        Two journaled steps of the fleet's step runner (:mod:`lms_db.fleet.steps`, shared
        with range moves): ``chunks`` (resumable from its own state: cursor and the chunk in
        flight) and ``complete``.

        :param journal_step: the entry's ``step`` column (where a crashed run stopped).
        """
        self._ctx = StepContext(self.catalog, self.entry_id, self.payload)
        steps = [
            Step("chunks", lambda _ctx: self._chunks()),
            Step("complete", lambda _ctx: self._complete()),
        ]
        run_steps(self._ctx, remaining_steps(steps, journal_step))
        journal.finish(self.catalog, self.entry_id, self.payload)

    def _chunks(self) -> None:
        if self.manifest.inline:
            self._to_parts()
        for slot in ("inflight", "ahead"):
            if self.payload.get(slot):
                self._recover(self.payload[slot])
        if self.throttle is not None:
            self.throttle.before_chunk()
        if self.dialect == "sqlite":
            self._serial()  # one writer per database file: no overlap to win
        else:
            self._pipelined()

    def _serial(self) -> None:
        """Take a chunk, store and verify it, commit its delete; then the next."""
        with self._takers(1) as [taker]:
            after, number = self.payload["cursor"], int(self.payload["next_chunk"])
            while (chunk := self._take(taker, after, None)) is not None:
                ready = self._store(chunk, number)
                self._promote(ready)
                self._commit(ready, taker)
                after, number = ready["hi"], number + 1
                if self.throttle is not None:
                    self.throttle.before_chunk()

    def _pipelined(self) -> None:
        """Store and verify chunk N in a worker thread while this thread commits chunk
        N-1 and takes chunk N+1.  The database work stays in this thread, one statement at
        a time: on a small server, reads running beside the deletes took several times as
        long, and the overlap worth having is the object store's latency.  Two takers
        alternate, so at most two chunks are in flight, both journaled (``inflight`` and
        ``ahead``), each in its own open transaction: a chunk's delete commits only after
        its own object was verified, whatever the other chunk is doing."""
        with (
            self._takers(2) as takers,
            scout(
                self.engine, self.group, self.options.row_filter, self.options.chunk_size
            ) as ahead,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-s3") as pool,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-part") as finisher,
        ):
            after, number = self.payload["cursor"], int(self.payload["next_chunk"])
            held: tuple[Future[dict[str, Any]], ChunkTaker] | None = None
            turn = 0
            # The last candidate key of the chunk taken last: what the scout read after.
            scouted_after: int | None = None
            try:
                while True:
                    taker = takers[turn % 2]
                    chunk = self._take(taker, after, held, ahead, scouted_after)
                    if chunk is _HELD_FIRST and held is not None:
                        self._settle(*held, finisher)  # our own open chunk held the lock
                        held = None
                        continue
                    if chunk is None:
                        break
                    ready = None
                    if held is not None:
                        # Chunk N-1 verified: out of the ``ahead`` slot before N goes in.
                        ready = held[0].result()
                        self._promote(ready)
                    future = pool.submit(self._store, chunk, number)
                    after, number, turn = parent_ids(self.group, chunk)[-1], number + 1, turn + 1
                    scouted_after = taker.candidates[-1]
                    del chunk
                    if held is not None and ready is not None:
                        self._commit(ready, held[1], finisher)
                        if self.throttle is not None:
                            self.throttle.before_chunk()
                    held = (future, taker)
                if held is not None:
                    self._settle(*held, finisher)
                self._finished()
            except BaseException:
                if held is not None:
                    held[0].cancel()
                raise

    def _settle(
        self,
        future: Future[dict[str, Any]],
        taker: ChunkTaker,
        finisher: ThreadPoolExecutor | None = None,
    ) -> None:
        """Wait for the chunk's object to be verified, then commit its delete."""
        ready = future.result()
        self._promote(ready)
        self._commit(ready, taker, finisher)

    def _take(
        self,
        taker: ChunkTaker,
        after: int | None,
        held: tuple[Future[dict[str, Any]], ChunkTaker] | None,
        ahead: Scout | None = None,
        scouted_after: int | None = None,
    ) -> Any:
        """The next chunk (``None``: none left), or :data:`_HELD_FIRST` when the take waited
        on a lock while this run holds another chunk open.

        :param ahead: the scout reading the chunk after this one's candidates meanwhile.
        :param scouted_after: the last candidate key of the chunk taken before this one
            (what the scout was asked to read after)."""
        waited = 0.0
        while True:
            scouted = ahead.claim(scouted_after) if ahead is not None else None
            scouted_after = None  # a second try reads its own candidates
            try:
                return taker.take(
                    after,
                    self.options.chunk_size,
                    scouted=scouted,
                    on_candidates=ahead.look_after if ahead is not None else None,
                )
            except LockWait:
                if held is not None:
                    log.info(
                        "%s: a take waited on a row lock; the open chunk commits first", self.shard
                    )
                    return _HELD_FIRST
                waited += LOCK_WAIT
                if waited >= LOCK_PATIENCE:
                    raise OperationError(
                        f"{self.shard}: rows after {self.group.parent.name} key {after} stayed "
                        f"locked by another session for {waited:g}s; nothing of that chunk "
                        "was deleted: rerun when it lets go"
                    ) from None
                log.info("%s: rows locked by another session; taking again", self.shard)

    @contextmanager
    def _takers(self, count: int) -> Iterator[list[ChunkTaker]]:
        delete = not self.options.no_delete
        with takers(
            self.engine, self.group, self.options.row_filter, delete=delete, count=count
        ) as out:
            yield out

    def _commit(
        self, ready: dict[str, Any], taker: ChunkTaker, finisher: ThreadPoolExecutor | None = None
    ) -> None:
        """Chunk ``ready`` is verified: commit its delete, then finish it (its part object
        and journal entry), in ``finisher``'s thread when given: the part's PUT is an object
        store round trip the next take need not wait for.  A crash before the finish is
        journaled is recovered like any verified chunk (no parent left: archived)."""
        taker.commit()
        state = "copied" if self.options.no_delete else "archived"
        if not self.options.no_delete:
            pause_point("delete:committed")
        if finisher is None:
            self._finish(ready, state)
        else:
            self._finishing = finisher.submit(self._finish, ready, state)

    def _finished(self) -> None:
        """Wait for the last chunk's finish (and raise its error, if any)."""
        finishing, self._finishing = self._finishing, None
        if finishing is not None:
            finishing.result()

    def _promote(self, ready: dict[str, Any]) -> None:
        """The prepared chunk moves from ``ahead`` to ``inflight`` (the commit's slot), once
        the chunk before it is finished and out of that slot."""
        self._finished()
        with self._lock:
            if self.payload.get("ahead") is ready:
                self.payload["ahead"] = None
            self.payload["inflight"] = ready

    def _to_parts(self) -> None:
        """A run begun by an older lmsdb (every chunk in the journal payload) goes on in
        parts: one part per chunk it finished, then running totals in the payload."""
        header = {k: v for k, v in self.payload["manifest"].items() if k != "chunks"}
        header["format"] = MANIFEST_FORMAT
        parts = Manifest(header)
        for record in self.manifest.records:
            parts.save_record(self.store, record, self.options.encryption)
        # The old run's manifest object (every chunk inline, state running) would hide the
        # parts from a reader until the run completes.
        self.store.delete(parts.key)
        with self._lock:
            self.payload["totals"] = payload_totals(self.payload)
            self.payload["manifest"] = header
            self.manifest = parts
        self._save("chunks in parts")

    def _complete(self) -> None:
        """Write the run manifest once, listing every part (found by listing ``parts/``: a
        resumed run's earlier parts are in no process's memory)."""
        keys = sorted(k for k in self.store.keys(self.manifest.parts_prefix) if k.endswith(".json"))
        finished = int(self.payload["totals"]["finished"])
        if len(keys) != finished:
            raise OperationError(
                f"{self.shard}: {len(keys)} part objects under "
                f"{self.store.url(self.manifest.parts_prefix)}, but {finished} chunks journaled; "
                "the manifest is not written (rerun to retry)"
            )
        self.manifest.data["state"] = "complete"
        self.manifest.data["updated_at"] = _now()
        pause_point("manifest:write")
        body = self.manifest.encode(part_keys=keys)
        self.store.put(self.manifest.key, body, encryption=self.options.encryption)

    def _save(self, progress: str, *, every: float = 0.0) -> None:
        """Journal the chunk loop's state (the ``chunks`` step's own progress); both threads
        of the pipeline write it, one at a time.

        :param every: skip the write when the last one is younger than this (the state
            goes with the next write)."""
        with self._lock:
            self.payload["progress"] = progress
            self._ctx.save(every=every)

    def _store(self, chunk: Chunk, number: int) -> dict[str, Any]:
        """Store ``chunk`` as object ``number`` and verify it; journaled ``read`` then
        ``verified`` in the ``ahead`` slot."""
        key = chunk_key(
            self.options.prefix, self.group.parent.name, self.shard, self.payload["run"], number
        )
        ids = parent_ids(self.group, chunk)
        chunk.meta.update(
            run=self.payload["run"],
            shard=self.shard,
            chunk=number,
            table=self.group.parent.name,
            schema_revision=self.manifest.data.get("schema_revision"),
        )
        blob = encode_chunk(chunk)
        inflight = {
            "chunk": number,
            "key": key,
            "step": "read",
            "ids": packed_ids(ids),
            "lo": ids[0],
            "hi": ids[-1],
            "counts": chunk.counts(),
            "digest": chunk.digest(),
            "bytes": len(blob),
            "sha256": None,
            "keys": packed_ids(self._shard_keys(chunk)),
        }
        with self._lock:
            self.payload["ahead"] = inflight
        del chunk
        self._save(f"chunk {number}:read")
        pause_point("chunk:read")
        sha = self.store.put(
            key,
            blob,
            storage_class=self.options.storage_class,
            encryption=self.options.encryption,
            during=lambda: pause_point("upload:sending"),
        )
        with self._lock:
            inflight["sha256"] = sha
        pause_point("upload:done")
        self.store.verify(key, size=len(blob), sha256=sha, storage_class=self.options.storage_class)
        with self._lock:
            inflight["step"] = "verified"
        self._save(f"chunk {number}:verified")
        pause_point("verify:done")
        pause_point("ahead:verified")
        return inflight

    def _delete_and_finish(self, inflight: dict[str, Any]) -> None:
        """A verified chunk whose delete never committed (a crash rolled it back): the
        guarded delete takes its rows if they are still exactly the object's."""
        ids, digest = unpacked_ids(inflight["ids"]), inflight["digest"]
        deleted = guarded_delete(self.engine, self.group, ids, digest=digest)
        self._finish(inflight, "archived" if deleted else "superseded")

    # -- recovery ---------------------------------------------------------------------------

    def _recover(self, inflight: dict[str, Any]) -> None:
        """Finish or undo the chunk a crash interrupted (see the module docstring)."""
        log.info(
            "%s: resuming chunk %s at step %s", self.shard, inflight["chunk"], inflight["step"]
        )
        if inflight["step"] == "verified" and self.options.no_delete:
            self._finish(inflight, "copied")
            return
        if inflight["step"] != "verified":
            # Nothing was deleted: the object, if stored at all, is dropped and re-made.
            self.store.delete(inflight["key"])
            self._clear(inflight)
            self._save(f"chunk {inflight['chunk']}:discarded")
            return
        if not parents_left(self.engine, self.group, unpacked_ids(inflight["ids"])):
            self._finish(inflight, "archived")  # the delete had committed
        else:
            self._delete_and_finish(inflight)  # unchanged: deleted now; changed: superseded

    # -- bookkeeping ------------------------------------------------------------------------

    def _finish(self, inflight: dict[str, Any], state: str) -> None:
        number = int(inflight["chunk"])
        if state == "superseded":
            # Its rows changed after the read: they stay in the table, the object goes.
            self.store.delete(inflight["key"])
        record = {
            "chunk": number,
            "key": inflight["key"] if state != "superseded" else None,
            "lo": inflight["lo"],
            "hi": inflight["hi"],
            "rows": inflight["counts"],
            "bytes": inflight["bytes"],
            "sha256": inflight["sha256"],
            "digest": inflight["digest"],
            "state": state,
            "keys": unpacked_ids(inflight["keys"]) if state != "superseded" else [],
            "at": _now(),
        }
        # The part first: a crash before the journal write re-finishes this chunk with the
        # same number, rewriting the same part key; none is ever left for an unfinished one.
        self.manifest.save_record(self.store, record, self.options.encryption)
        pause_point("part:stored")
        with self._lock:
            add_record(self.payload["totals"], record, self.group.parent.name)
            self.payload["cursor"] = inflight["hi"]
            self.payload["next_chunk"] = number + 1
            self._clear(inflight)
        # Not written at once: the next chunk's ``read`` write, moments later, carries it.
        # A crash before then finds the chunk journaled ``verified`` and finishes it again
        # (no parent left: archived, its part rewritten in place), as after ``part:stored``.
        self._save(f"chunk {number}:{state}", every=FINISH_SAVE_EVERY)
        if self.on_chunk is not None:
            rows = int(inflight["counts"].get(self.group.parent.name, 0))
            self.on_chunk(ChunkEvent(self.shard, number, state, rows))

    def _clear(self, inflight: dict[str, Any]) -> None:
        """Empty the journal slot holding ``inflight`` (the caller holds the lock or is
        the only thread)."""
        for slot in ("inflight", "ahead"):
            held = self.payload.get(slot)
            if held is not None and held["chunk"] == inflight["chunk"]:
                self.payload[slot] = None

    def _shard_keys(self, chunk: Chunk) -> list[int]:
        """Distinct shard-key values (user ids) in the chunk: what ``forget`` looks up."""
        key = self.group.shard_key
        values: set[int] = set()
        if key is None:
            return []
        for table, names in chunk.columns.items():
            if key in names:
                index = names.index(key)
                found = {r[index] for r in chunk.rows[table]}  # distinct first: a few per chunk
                found.discard(None)
                values.update(map(int, found))
        return sorted(values)


def outcome_from_payload(shard: str, payload: dict[str, Any]) -> ShardOutcome:
    totals = payload_totals(payload)
    return ShardOutcome(
        shard,
        payload["run"],
        chunks=int(totals["chunks"]),
        rows=dict(totals["rows"]),
        bytes=int(totals["bytes"]),
        superseded_rows=int(totals["superseded_rows"]),
    )


def count_eligible(
    engine: Engine, group: ArchiveGroup, row_filter: RowFilter, sample: int = 5
) -> tuple[int, list[int]]:
    """Parent rows a run would archive now, and the first few of their ids (dry run)."""
    with engine.connect() as conn:
        query = candidate_query(group, row_filter, engine.dialect.name, None)
        total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
        index = [c.name for c in group.parent.columns].index(group.pk)
        ids = [int(r[index]) for r in conn.execute(query.limit(sample))]
    return int(total), ids


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
