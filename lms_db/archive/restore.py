"""``lmsdb archive restore RUN``: put archived rows back, idempotently.

For each live chunk of the run (from its manifest), on the shard it came from:

- a GLACIER/DEEP_ARCHIVE object not yet readable gets a restore request; with ``wait`` the
  restore polls until it is readable, otherwise it reports the chunk ``pending`` and a
  later rerun finishes it;
- the object is read and checked (its own digest and counts, and the manifest's SHA-256);
- in one transaction per chunk, each row (parents first) is inserted unless a row with its
  primary key exists: identical -> skipped, different -> reported as a conflict and left
  alone (with its children, which would otherwise hang under another parent).

Restoring twice, or after a crash halfway, inserts nothing twice.  ``where`` restores the
parent rows that match (and their children) only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.archive import journal
from lms_db.archive.chunks import write_transaction
from lms_db.archive.codec import Chunk, decode_chunk, encode_row
from lms_db.archive.filters import RowFilter, parse_condition
from lms_db.archive.hooks import pause_point
from lms_db.archive.runs import ShardRun, catalog_engine, run_parts
from lms_db.archive.s3 import Store, sha256_hex
from lms_db.archive.tables import archive_group, insert_statement, select_rows, utc_sessions
from lms_db.catalog import open_journal_entry
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import LmsDbError, OperationError, UnknownObjectError
from lms_db.migrate.targets import registered_members, select_members
from lms_db.topology.engines import engine_for, short_reason
from lms_db.topology.spec import Topology

log = logging.getLogger(__name__)

#: Seconds between two checks of a pending Glacier restore with ``wait``.
POLL_SECONDS = 30.0


@dataclass
class ShardRestore:
    shard: str
    chunks: int = 0
    inserted: dict[str, int] = field(default_factory=dict)
    identical: dict[str, int] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class RestoreReport:
    run: str
    shards: list[ShardRestore] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return sum(len(s.pending) for s in self.shards)

    @property
    def conflicts(self) -> int:
        return sum(len(s.conflicts) for s in self.shards)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "pending": self.pending,
            "conflicts": self.conflicts,
            "shards": [s.to_dict() for s in self.shards],
        }


def restore_run(
    topology: Topology,
    run: str,
    *,
    where: Sequence[tuple[str, str, str]] = (),
    wait: bool = False,
    wait_timeout: float = 48 * 3600,
    poll_seconds: float = POLL_SECONDS,
    tier: str = "Standard",
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
    on_chunk: Callable[[str, int], None] | None = None,
) -> RestoreReport:
    """Re-insert the rows of ``run`` (see the module docstring).

    :raises UnknownObjectError: no such run, or its shard is no longer in the topology.
    :raises InputError: a ``where`` naming an unknown column or a bad value.
    """
    catalog = catalog_engine(topology, timeout)
    try:
        store, parts = run_parts(topology, catalog, run)
        group = archive_group(parts[0].manifest.table)
        row_filter = RowFilter(tuple(parse_condition(group.parent, *w) for w in where))
        members = {
            m.name: m
            for m in select_members(
                topology, "oltp", registered=registered_members(topology, timeout=timeout)
            )
        }
        journal.close_stale(catalog, journal.RESTORE_OPERATION)
        payload: dict[str, Any] = {"run": run, "where": [list(w) for w in where], "done": []}
        entry = open_journal_entry(
            catalog, operation=journal.RESTORE_OPERATION, step="start", payload=payload
        )
        report = RestoreReport(run)
        try:
            _restore_parts(
                catalog,
                store,
                parts,
                members,
                row_filter,
                report,
                payload,
                entry,
                wait=wait,
                wait_timeout=wait_timeout,
                poll_seconds=poll_seconds,
                tier=tier,
                timeout=timeout,
                on_chunk=on_chunk,
            )
        except LmsDbError as exc:
            journal.finish(
                catalog, entry, {**payload, "error": exc.message}, state="failed", step="failed"
            )
            raise
        journal.finish(catalog, entry, payload, step="pending" if report.pending else "done")
        return report
    finally:
        catalog.dispose()


def _restore_parts(
    catalog: Engine,
    store: Store,
    parts: list[ShardRun],
    members: dict[str, Any],
    row_filter: RowFilter,
    report: RestoreReport,
    payload: dict[str, Any],
    entry: int,
    *,
    wait: bool,
    wait_timeout: float,
    poll_seconds: float,
    tier: str,
    timeout: float,
    on_chunk: Callable[[str, int], None] | None,
) -> None:
    run = report.run
    for part in parts:
        member = members.get(part.shard)
        if member is None:
            raise UnknownObjectError(
                f"run {run}: shard {part.shard} is not in the topology or the catalog any more"
            )
        engine = utc_sessions(engine_for(member.primary, timeout=timeout))
        try:
            report.shards.append(
                _restore_shard(
                    engine,
                    store,
                    part,
                    row_filter,
                    wait=wait,
                    wait_timeout=wait_timeout,
                    poll_seconds=poll_seconds,
                    tier=tier,
                    on_done=lambda key: _journal_done(catalog, entry, payload, key),
                    on_chunk=on_chunk,
                )
            )
        finally:
            engine.dispose()


def _journal_done(catalog: Engine, entry: int, payload: dict[str, Any], key: str) -> None:
    payload["done"].append(key)
    journal.save(catalog, entry, f"restored {len(payload['done'])}", payload)


def _restore_shard(
    engine: Engine,
    store: Store,
    part: ShardRun,
    row_filter: RowFilter,
    *,
    wait: bool,
    wait_timeout: float,
    poll_seconds: float,
    tier: str,
    on_done: Callable[[str], None],
    on_chunk: Callable[[str, int], None] | None,
) -> ShardRestore:
    result = ShardRestore(part.shard)
    group = archive_group(part.manifest.table)
    chunks = part.manifest.live_chunks()
    waiting = [c for c in chunks if not _readable(store, c["key"], tier)]
    deadline = time.monotonic() + wait_timeout
    while waiting and wait and time.monotonic() < deadline:
        time.sleep(poll_seconds)
        waiting = [c for c in waiting if not _readable(store, c["key"], tier)]
    result.pending = [c["key"] for c in waiting]
    for chunk in chunks:
        if chunk["key"] in result.pending:
            continue
        blob = store.get(chunk["key"])
        if sha256_hex(blob) != chunk["sha256"]:
            raise OperationError(
                f"{store.url(chunk['key'])}: the object differs from the "
                "manifest's SHA-256; nothing of it restored"
            )
        rows = decode_chunk(blob, where=store.url(chunk["key"]))
        try:
            with write_transaction(engine) as conn:
                _insert_chunk(conn, group, rows, row_filter, result)
        except sa.exc.DBAPIError as exc:
            raise OperationError(
                f"{part.shard}: chunk {chunk['chunk']} of run {part.manifest.run} could not be "
                f"restored ({short_reason(exc)}); nothing of that chunk was inserted"
            ) from exc
        pause_point("restore:chunk")
        on_done(chunk["key"])
        result.chunks += 1
        if on_chunk is not None:
            on_chunk(part.shard, int(chunk["chunk"]))
    return result


def _readable(store: Store, key: str, tier: str) -> bool:
    stored = store.head(key)
    if stored is None:
        raise OperationError(f"{store.url(key)}: the object listed in the manifest is missing")
    if stored.readable:
        return True
    if stored.restore is None:
        store.request_restore(key, tier=tier)
        stored = store.head(key)
        return stored is not None and stored.readable
    return False


def _insert_chunk(
    conn: Connection, group: Any, chunk: Chunk, row_filter: RowFilter, result: ShardRestore
) -> None:
    parent = group.parent.name
    pk_name = group.pk
    keep_parents: set[Any] = set()
    refused: set[Any] = set()
    for record in chunk.records(parent):
        if row_filter.matches(record):
            keep_parents.add(record[pk_name])
    for table in group.tables:
        records = chunk.records(table.name)
        if table.name == parent:
            records = [r for r in records if r[pk_name] in keep_parents]
        else:
            link = next(c.column for c in group.children if c.table is table)
            records = [r for r in records if r[link] in keep_parents and r[link] not in refused]
        bad = _insert_missing(conn, table, records, result)
        if table.name == parent:
            refused.update(bad)


def _insert_missing(
    conn: Connection, table: sa.Table, records: list[dict[str, Any]], result: ShardRestore
) -> set[Any]:
    """Insert the records whose primary key is absent; returns the conflicting keys."""
    if not records:
        return set()
    pk = next(iter(table.primary_key.columns))
    names = [c.name for c in table.columns]
    existing: dict[Any, tuple[Any, ...]] = {}
    keys = [r[pk.name] for r in records]
    for start in range(0, len(keys), 5000):
        query = select_rows(table, conn.dialect.name).where(pk.in_(keys[start : start + 5000]))
        for row in conn.execute(query):
            existing[row[names.index(pk.name)]] = tuple(row)
    missing: list[dict[str, Any]] = []
    conflicts: set[Any] = set()
    for record in records:
        have = existing.get(record[pk.name])
        if have is None:
            missing.append(record)
        elif encode_row(have) == encode_row([record[n] for n in names]):
            result.identical[table.name] = result.identical.get(table.name, 0) + 1
        else:
            conflicts.add(record[pk.name])
            result.conflicts.append(
                f"{table.name} {pk.name}={record[pk.name]}: a different "
                "row holds this key; left as it is"
            )
    if missing:
        conn.execute(insert_statement(table, conn.dialect.name), missing)
        result.inserted[table.name] = result.inserted.get(table.name, 0) + len(missing)
    return conflicts
