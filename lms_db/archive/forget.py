"""``lmsdb archive forget --user ID``: the right to erasure reaches the archive.

Every chunk record (its part object) lists the shard-key values (user ids) it holds, so
the objects with the user's rows are found without reading the others.  Each such object,
under the lock of the shard it came from:

1. is read and checked (SHA-256 against the manifest);
2. is rewritten without the user's rows (a parent row of the user takes its children
   along; any child row of the user goes too) to the next version of its key
   (``chunk-000001.v2.jsonl.zst``), uploaded and verified; a chunk left empty gets no
   object;
3. the chunk's record is switched to the new object: its part (one PUT; a format-1 run:
   the whole manifest), and the journal's totals;
4. the old object is deleted.

A crash leaves either the old record (the new object is an orphan, rewritten again by the
rerun) or the new one (the old object is an orphan).  Every forget pass sweeps the run's
chunk objects that no manifest lists, so a rerun always finishes the erasure.  GLACIER
objects must be restored first: forget asks for the restore and reports them pending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lms_db.archive import journal
from lms_db.archive.codec import Chunk, decode_chunk, encode_chunk
from lms_db.archive.hooks import pause_point
from lms_db.archive.manifest import Manifest, chunk_key, load_manifest, payload_totals, run_prefix
from lms_db.archive.runs import ShardRun, catalog_engine, store_of
from lms_db.archive.s3 import Encryption, Store, sha256_hex
from lms_db.archive.tables import ArchiveGroup, archive_group
from lms_db.catalog import JournalEntry, open_journal_entry
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import LmsDbError, OperationError, ShardBusy
from lms_db.fleet.locks import DEFAULT_LOCK_TIMEOUT
from lms_db.migrate.database import locked_connection
from lms_db.migrate.targets import registered_members, select_members
from lms_db.topology.spec import Topology

log = logging.getLogger(__name__)


@dataclass
class ForgetReport:
    user: int
    rewritten: list[str] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)
    removed_rows: dict[str, int] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def forget_user(
    topology: Topology,
    user_id: int,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> ForgetReport:
    """Remove every archived row of ``user_id`` from every run's objects.

    :raises ShardBusy: an archive run is unfinished on a shard holding the user's rows.
    """
    report = ForgetReport(user_id)
    catalog = catalog_engine(topology, timeout)
    try:
        entries = [
            e
            for e in journal.archive_entries(catalog)
            if e.payload and not e.payload["manifest"].get("to_table")
        ]
        unfinished = [e for e in entries if e.state == "open"]
        if unfinished:
            # Its chunk in flight is in no manifest yet: it could hold the user's rows, and
            # the orphan sweep must never delete it.
            first = unfinished[0]
            raise ShardBusy(
                f"{first.shard}: archive run {first.payload['run']} is unfinished; "
                "finish it (rerun archive run with its options), then forget"
            )
        members = {
            m.name: m
            for m in select_members(
                topology, "oltp", registered=registered_members(topology, timeout=timeout)
            )
        }
        journal.close_stale(catalog, journal.FORGET_OPERATION)
        forget_entry = open_journal_entry(
            catalog, operation=journal.FORGET_OPERATION, step="start", payload={"user": user_id}
        )
        try:
            _forget_everywhere(
                topology,
                catalog,
                entries,
                members,
                user_id,
                report,
                forget_entry,
                lock_timeout,
                timeout,
            )
        except LmsDbError as exc:
            journal.finish(
                catalog,
                forget_entry,
                {"user": user_id, "error": exc.message},
                state="failed",
                step="failed",
            )
            raise
        journal.finish(
            catalog,
            forget_entry,
            {"user": user_id, **{k: v for k, v in report.to_dict().items() if k != "user"}},
            step="pending" if report.pending else "done",
        )
    finally:
        catalog.dispose()
    return report


def _forget_everywhere(
    topology: Topology,
    catalog: sa.Engine,
    entries: list[JournalEntry],
    members: dict[str, Any],
    user_id: int,
    report: ForgetReport,
    forget_entry: int,
    lock_timeout: float,
    timeout: float,
) -> None:
    stores: dict[str, Store] = {}
    for entry in entries:
        header = entry.payload["manifest"]
        store = stores.setdefault(header["bucket"], store_of(topology, header["bucket"]))
        member = members.get(str(header["shard"]))
        if member is None:
            continue
        with locked_connection(member.primary, lock_timeout=lock_timeout, timeout=timeout):
            # Read under the shard's lock: another forget may have rewritten it.
            manifest = load_manifest(store, header)
            _forget_in_run(catalog, store, ShardRun(entry, manifest), user_id, report, forget_entry)


def _forget_in_run(
    catalog: sa.Engine,
    store: Store,
    part: ShardRun,
    user_id: int,
    report: ForgetReport,
    forget_entry: int,
) -> None:
    manifest = part.manifest
    group = archive_group(manifest.table)
    encryption = Encryption(manifest.data.get("encryption"), manifest.data.get("kms_key_id"))
    for chunk in manifest.live_chunks():
        if user_id not in chunk.get("keys", ()):
            continue
        stored = store.head(chunk["key"])
        if stored is None:
            raise OperationError(f"{store.url(chunk['key'])}: listed in the manifest but missing")
        if not stored.readable:
            if stored.restore is None:
                store.request_restore(chunk["key"])
            report.pending.append(chunk["key"])
            continue
        blob = store.get(chunk["key"])
        if sha256_hex(blob) != chunk["sha256"]:
            raise OperationError(
                f"{store.url(chunk['key'])}: differs from the manifest's SHA-256; not rewritten"
            )
        old = decode_chunk(blob, where=store.url(chunk["key"]))
        kept, removed = _without_user(group, old, user_id)
        version = int(chunk.get("version", 1)) + 1
        old_key, old_bytes = chunk["key"], int(chunk["bytes"])
        if any(kept.rows.values()):
            new_key = chunk_key(
                manifest.data["prefix"],
                manifest.table,
                manifest.shard,
                manifest.run,
                int(chunk["chunk"]),
                version,
            )
            new_blob = encode_chunk(kept)
            sha = store.put(
                new_key, new_blob, storage_class=stored.storage_class, encryption=encryption
            )
            store.verify(
                new_key, size=len(new_blob), sha256=sha, storage_class=stored.storage_class
            )
            chunk.update(
                key=new_key,
                bytes=len(new_blob),
                sha256=sha,
                digest=kept.digest(),
                rows=kept.counts(),
                version=version,
                keys=[k for k in chunk["keys"] if k != user_id],
            )
            report.rewritten.append(old_key)
        else:
            chunk.update(
                key=None, state="forgotten", rows=kept.counts(), bytes=0, keys=[], version=version
            )
            report.emptied.append(old_key)
        for table, count in removed.items():
            report.removed_rows[table] = report.removed_rows.get(table, 0) + count
        _save_record(catalog, store, part.entry, manifest, chunk, encryption, old_bytes, removed)
        journal.save(
            catalog,
            forget_entry,
            f"chunk {chunk['chunk']} of {manifest.run}",
            {"user": user_id, "old": old_key, "new": chunk["key"]},
        )
        pause_point("forget:rewritten")
        store.delete(old_key)
    _sweep_orphans(store, manifest, report)


def _without_user(group: ArchiveGroup, chunk: Chunk, user_id: int) -> tuple[Chunk, dict[str, int]]:
    key = group.shard_key
    parent = group.parent.name
    dropped_parents: set[Any] = set()
    rows: dict[str, list[Any]] = {}
    removed: dict[str, int] = {}
    for table in group.tables:
        names = chunk.columns[table.name]
        user_index = names.index(key) if key in names else None
        keep = []
        for row in chunk.rows.get(table.name, []):
            mine = user_index is not None and row[user_index] == user_id
            if table.name != parent:
                link = next(c.column for c in group.children if c.table is table)
                mine = mine or row[names.index(link)] in dropped_parents
            if mine:
                removed[table.name] = removed.get(table.name, 0) + 1
                if table.name == parent:
                    dropped_parents.add(row[names.index(group.pk)])
            else:
                keep.append(row)
        rows[table.name] = keep
    return Chunk(chunk.columns, rows, dict(chunk.meta)), removed


def _save_record(
    catalog: sa.Engine,
    store: Store,
    entry: JournalEntry,
    manifest: Manifest,
    chunk: dict[str, Any],
    encryption: Encryption,
    old_bytes: int,
    removed: dict[str, int],
) -> None:
    """The rewritten chunk's record to the store, then the journal's view of the run."""
    manifest.save_record(store, chunk, encryption)
    payload = entry.payload
    if manifest.inline:  # a format-1 run: the journal holds a copy of every chunk
        payload["manifest"] = manifest.data
    else:
        totals = payload_totals(payload)
        totals["bytes"] = int(totals["bytes"]) - old_bytes + int(chunk["bytes"])
        for table, count in removed.items():
            totals["rows"][table] = int(totals["rows"].get(table, 0)) - count
        if chunk["state"] == "forgotten":
            totals["chunks"] = int(totals["chunks"]) - 1
        payload["totals"] = totals
    journal.replace_payload(catalog, entry.id, payload)


def _sweep_orphans(store: Store, manifest: Manifest, report: ForgetReport) -> None:
    """Delete chunk objects of this run that its manifest does not list (crash leftovers)."""
    live = {c["key"] for c in manifest.live_chunks()}
    prefix = run_prefix(manifest.data["prefix"], manifest.table, manifest.shard, manifest.run)
    for key in store.keys(prefix):
        if key.endswith(".jsonl.zst") and key not in live:
            store.delete(key)
            report.orphans_deleted.append(key)
