"""Archive runs as the catalog journal and the store know them: list, locate, verify.

A run is found by id in the journal (one ``archive`` entry per shard, whose payload names
bucket, prefix and table); its chunks come from the store: the run manifest and its parts,
or the parts alone while the run is unfinished (:func:`~lms_db.archive.manifest.load_manifest`).
``list`` reads the journal only (its running totals).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lms_db.archive import journal
from lms_db.archive.codec import ArchiveFormatError, decode_chunk
from lms_db.archive.errors import ObjectNotReadable, VerificationFailed
from lms_db.archive.manifest import Manifest, load_manifest, payload_totals
from lms_db.archive.s3 import Store, StoreSettings
from lms_db.catalog import JournalEntry
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import InputError, LmsDbError, UnknownObjectError
from lms_db.topology.engines import engine_for
from lms_db.topology.spec import Topology


@dataclass(frozen=True)
class ShardRun:
    """One shard's part of a run: its journal entry and its manifest."""

    entry: JournalEntry
    manifest: Manifest

    @property
    def shard(self) -> str:
        return self.manifest.shard


def catalog_engine(topology: Topology, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> sa.Engine:
    return engine_for(topology.catalog, timeout=timeout)


def store_of(topology: Topology, bucket: str) -> Store:
    section = topology.archive
    return Store(
        StoreSettings(
            bucket, endpoint_url=section.get("endpoint_url"), region=section.get("region")
        )
    )


def run_parts(topology: Topology, catalog: sa.Engine, run: str) -> tuple[Store, list[ShardRun]]:
    """The store and every shard's part of ``run``.

    :raises UnknownObjectError: no run has that id.
    """
    entries = [e for e in journal.archive_entries(catalog) if (e.payload or {}).get("run") == run]
    if not entries:
        raise UnknownObjectError(f"no archive run {run!r} in the catalog (see lmsdb archive list)")
    moved_to = entries[0].payload["manifest"].get("to_table")
    if moved_to:
        raise InputError(
            f"run {run} moved its rows into table {moved_to} on each shard; "
            "there is no object to read"
        )
    store = store_of(topology, entries[0].payload["manifest"]["bucket"])
    parts = []
    for entry in entries:
        parts.append(ShardRun(entry, load_manifest(store, entry.payload["manifest"])))
    return store, parts


@dataclass
class RunSummary:
    run: str
    table: str
    state: str
    shards: list[str]
    rows: dict[str, int]
    bytes: int
    storage_class: str
    destination: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def list_runs(topology: Topology, *, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> list[RunSummary]:
    """Every archive run the catalog knows, oldest first (from the journal only)."""
    catalog = catalog_engine(topology, timeout)
    try:
        entries = journal.archive_entries(catalog)
    finally:
        catalog.dispose()
    runs: dict[str, RunSummary] = {}
    for entry in entries:
        payload = entry.payload or {}
        manifest = Manifest.of_header(payload["manifest"])
        summary = runs.get(manifest.run)
        if summary is None:
            data = manifest.data
            summary = runs[manifest.run] = RunSummary(
                manifest.run,
                manifest.table,
                "complete",
                [],
                {},
                0,
                data["storage_class"],
                f"table {data['to_table']}"
                if data.get("to_table")
                else f"s3://{data['bucket']}/{data['prefix']}",
                str(data.get("created_at")),
            )
        summary.shards.append(manifest.shard)
        if entry.state != "done":
            summary.state = "unfinished"
        totals = payload_totals(payload)
        for table, count in totals["rows"].items():
            summary.rows[table] = summary.rows.get(table, 0) + int(count)
        summary.bytes += int(totals["bytes"])
    return list(runs.values())


@dataclass
class ChunkCheck:
    shard: str
    chunk: int
    key: str
    result: str  # ok, cold-ok (HEAD only), missing, mismatch
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class VerifyReport:
    run: str
    checks: list[ChunkCheck] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(c.result not in ("ok", "cold-ok") for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "failed": self.failed,
            "chunks": [c.to_dict() for c in self.checks],
        }


def verify_run(
    topology: Topology, run: str, *, timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> VerifyReport:
    """Re-read every live object of ``run`` and check it against the manifest.

    Cold objects (GLACIER/DEEP_ARCHIVE, not restored) are checked by HEAD: size and the
    SHA-256 the store recorded on receipt.
    """
    catalog = catalog_engine(topology, timeout)
    try:
        store, parts = run_parts(topology, catalog, run)
    finally:
        catalog.dispose()
    report = VerifyReport(run)
    for part in parts:
        for chunk in part.manifest.live_chunks():
            report.checks.append(_check_chunk(store, part.shard, chunk))
    return report


def _check_chunk(store: Store, shard: str, chunk: dict[str, Any]) -> ChunkCheck:
    key = chunk["key"]
    check = ChunkCheck(shard, int(chunk["chunk"]), key, "ok")
    try:
        stored = store.verify(key, size=int(chunk["bytes"]), sha256=chunk["sha256"])
        if not stored.readable:
            check.result = "cold-ok"
            check.detail = f"{stored.storage_class}: size and stored SHA-256 match"
            return check
        rows = decode_chunk(store.get(key), where=store.url(key))
        if rows.counts() != chunk["rows"] or rows.digest() != chunk["digest"]:
            check.result, check.detail = "mismatch", "rows differ from the manifest"
    except VerificationFailed as exc:
        check.result = "missing" if "missing" in exc.message else "mismatch"
        check.detail = exc.message
    except (ArchiveFormatError, ObjectNotReadable) as exc:
        check.result, check.detail = "mismatch", exc.message
    except LmsDbError as exc:
        check.result, check.detail = "error", exc.message
    return check
