"""``lmsdb archive run``: validate everything, then archive every shard in parallel.

Every check that can fail on bad input runs before any shard is touched: the table and its
archive group, the filter, storage class and encryption, PII without encryption, every
shard primary and the catalog reachable, the bucket there.  Then each shard runs under its
per-database lock (the one ``lmsdb migrate`` takes, so the two never overlap on a shard)
with its own journal entry.  A shard that fails leaves its entry open: a rerun with the
same options resumes it.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from lms_db.archive import journal
from lms_db.archive.chunks import blocked_query
from lms_db.archive.errors import ArchiveRefused
from lms_db.archive.filters import build_filter, filter_from_dict
from lms_db.archive.manifest import payload_totals
from lms_db.archive.protocol import (
    ArchiveOptions,
    ChunkEvent,
    ShardArchiver,
    ShardOutcome,
    count_eligible,
    new_payload,
    outcome_from_payload,
)
from lms_db.archive.s3 import SSE_MODES, STORAGE_CLASSES, Encryption, Store, StoreSettings
from lms_db.archive.tables import ArchiveGroup, archive_group, utc_sessions
from lms_db.archive.throttle import LagThrottle
from lms_db.archive.to_table import TableMover, table_group
from lms_db.catalog import JournalEntry, ensure_catalog, open_entries
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import InputError, LmsDbError, LockTimeout, ShardBusy
from lms_db.fleet.fanout import FanoutPolicy, fan_out
from lms_db.fleet.locks import DEFAULT_LOCK_TIMEOUT
from lms_db.fleet.rawread import READERS, fast_url, mysqlclient_available
from lms_db.migrate.database import current_revision, locked_connection
from lms_db.migrate.targets import Member, preflight
from lms_db.topology.engines import engine_for, short_reason
from lms_db.topology.spec import Topology

log = logging.getLogger(__name__)

FORMATS = ("jsonl", "parquet")
#: Parent rows per chunk at most (keeps every IN list under SQLite's variable limit).
MAX_CHUNK = 20_000


@dataclass(frozen=True)
class ArchiveRequest:
    """``lmsdb archive run``'s options (see its ``--help``)."""

    table: str
    destination: str | None = None
    older_than: str | None = None
    date_column: str | None = None
    status: str | None = None
    where: tuple[tuple[str, str, str], ...] = ()
    shards: tuple[str, ...] = ()
    chunk_size: int = 1000
    storage_class: str | None = None
    sse: str | None = None
    kms_key_id: str | None = None
    format: str = "jsonl"
    dry_run: bool = False
    no_delete: bool = False
    to_table: str | None = None
    allow_unencrypted_pii: bool = False
    parallel: int = 4
    max_replica_lag: float | None = None
    replica_wait: float = 600.0
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    #: MySQL/MariaDB driver of the shard connections: ``auto`` (mysqlclient, C, when
    #: installed: the ``fast`` extra), ``pymysql`` or ``mysqlclient``.  Same bytes either way.
    reader: str = "auto"


@dataclass
class DryRunShard:
    shard: str
    eligible: int
    blocked: int
    sample_ids: list[int]

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class ArchiveReport:
    """What ``archive run`` did (or, dry run, would do) on each shard."""

    run: str
    table: str
    destination: str
    dry_run: bool
    shards: list[ShardOutcome] = field(default_factory=list)
    plan: list[DryRunShard] = field(default_factory=list)
    blocked_reason: str | None = None

    @property
    def failed(self) -> bool:
        return any(s.state not in ("done", "skipped") for s in self.shards)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "table": self.table,
            "destination": self.destination,
            "dry_run": self.dry_run,
            "shards": [s.to_dict() for s in self.shards],
            "plan": [p.to_dict() for p in self.plan],
            "blocked_reason": self.blocked_reason,
        }


def parse_destination(text: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX`` -> ``(bucket, prefix)``.

    :raises InputError: not an ``s3://`` URL with a bucket.
    """
    if not text.startswith("s3://") or len(text) <= 5:
        raise InputError(f"--to {text!r}: use s3://BUCKET/PREFIX")
    bucket, _, prefix = text[5:].partition("/")
    if not bucket:
        raise InputError(f"--to {text!r}: no bucket; use s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


def store_for(topology: Topology, destination: str | None) -> tuple[Store, str]:
    """The store and prefix: ``--to`` first, then the topology's ``[archive]`` section."""
    section = topology.archive
    if destination is not None:
        bucket, prefix = parse_destination(destination)
    elif section.get("bucket"):
        bucket, prefix = section["bucket"], section.get("prefix", "").strip("/")
    else:
        raise InputError(
            "no destination: pass --to s3://BUCKET/PREFIX or set bucket in the "
            "topology's [archive] section"
        )
    settings = StoreSettings(
        bucket, endpoint_url=section.get("endpoint_url"), region=section.get("region")
    )
    return Store(settings), prefix


def new_run_id() -> str:
    """A run id: UTC start time and a random tag (sorts by time)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _options(
    request: ArchiveRequest, topology: Topology, group: ArchiveGroup, bucket: str, prefix: str
) -> ArchiveOptions:
    section = topology.archive
    storage_class = (request.storage_class or section.get("storage_class") or "STANDARD").upper()
    if storage_class not in STORAGE_CLASSES:
        raise InputError(
            f"--storage-class {storage_class}: use one of {', '.join(STORAGE_CLASSES)}"
        )
    sse = request.sse or section.get("sse")
    if sse is not None and sse not in SSE_MODES:
        raise InputError(f"--sse {sse}: use one of {', '.join(SSE_MODES)}")
    kms = request.kms_key_id or section.get("kms_key_id")
    if kms and sse != "aws:kms":
        raise InputError("--kms-key-id needs --sse aws:kms")
    if request.format not in FORMATS:
        raise InputError(f"--format {request.format}: use jsonl or parquet")
    if request.format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError(
                "--format parquet needs pyarrow, which is not installed; use --format jsonl"
            ) from None
        raise InputError("--format parquet is not supported by this lmsdb yet; use --format jsonl")
    if request.max_replica_lag is not None and request.max_replica_lag < 0:
        raise InputError("--max-replica-lag must be 0 or more seconds")
    if request.reader not in READERS:
        raise InputError(f"reader {request.reader!r}: use one of {', '.join(READERS)}")
    if request.reader == "mysqlclient" and not mysqlclient_available():
        raise InputError(
            "reader mysqlclient: not installed (pip install 'lmsdb[fast]'; it needs the "
            "MariaDB or MySQL client headers to build)"
        )
    if not 1 <= request.chunk_size <= MAX_CHUNK:
        raise InputError(f"--chunk-size {request.chunk_size}: use 1 to {MAX_CHUNK}")
    pii = group.pii_columns()
    if pii and sse is None and not request.allow_unencrypted_pii and not request.to_table:
        raise ArchiveRefused(
            f"{group.parent.name}: holds personal data ({', '.join(pii)}); pass --sse AES256 "
            "or --sse aws:kms, or --allow-unencrypted-pii"
        )
    row_filter = build_filter(
        group.parent,
        older_than=request.older_than,
        date_column=request.date_column,
        status=request.status,
        where=request.where,
    )
    signature = {
        "table": group.parent.name,
        "bucket": bucket,
        "prefix": prefix,
        "storage_class": storage_class,
        "sse": sse,
        "kms_key_id": kms,
        "no_delete": request.no_delete,
        "format": request.format,
        "older_than": request.older_than,
        "date_column": request.date_column,
        "status": request.status,
        "where": [list(w) for w in request.where],
        "to_table": request.to_table,
    }
    return ArchiveOptions(
        group=group,
        row_filter=row_filter,
        bucket=bucket,
        prefix=prefix,
        storage_class=storage_class,
        encryption=Encryption(sse, kms),
        chunk_size=request.chunk_size,
        no_delete=request.no_delete,
        signature=signature,
        to_table=request.to_table,
    )


def run_archive(
    topology: Topology,
    request: ArchiveRequest,
    on_chunk: Callable[[ChunkEvent], None] | None = None,
) -> ArchiveReport:
    """Archive ``request.table`` on every selected shard (or, dry run, count what would go).

    :raises InputError: bad options, unknown table/shard, unreachable server or bucket, or
        an unfinished run of this table with other options (nothing touched).
    :raises ArchiveRefused: the table cannot be archived safely as asked.
    """
    group = archive_group(request.table)
    target = None
    if request.to_table is not None:
        if request.destination is not None or request.no_delete:
            raise InputError(
                "--to-table moves rows inside the shard: it takes neither --to nor --no-delete"
            )
        group, target = table_group(group, request.to_table)
        store, prefix = Store(StoreSettings("")), ""
        destination = f"table {target.name}"
    else:
        store, prefix = store_for(topology, request.destination)
        destination = store.url(prefix)
    options = _options(request, topology, group, store.bucket, prefix)
    prepared = preflight(
        topology, shards=request.shards, timeout=request.connect_timeout, check_replicas=False
    )
    members = list(prepared.members)
    if target is None:
        store.check_bucket()
    catalog = engine_for(topology.catalog, timeout=request.connect_timeout)
    try:
        ensure_catalog(catalog)
        report = ArchiveReport("", group.parent.name, destination, request.dry_run)
        if group.blockers:
            names = ", ".join(b.table.name for b in group.blockers)
            report.blocked_reason = (
                f"rows with {names} are kept (the archive table has no child tables; "
                "archive those to S3 instead)"
                if target is not None
                else f"rows with {names} are kept (those tables do not cascade: their rows must "
                "outlive the parent)"
            )
        if request.dry_run:
            report.plan = [_plan(m, group, options, request) for m in members]
            return report
        run, resumable = _find_run(catalog, members, options)
        report.run = run

        def work(member: Member) -> ShardOutcome:
            return _archive_shard(
                member,
                run,
                resumable.get(member.name),
                catalog,
                store,
                options,
                request,
                on_chunk,
                target,
            )

        policy = FanoutPolicy(parallel=max(1, request.parallel), canary=False)
        report.shards = fan_out(
            members,
            work,
            policy=policy,
            failed=lambda o: o.state not in ("done", "skipped"),
            skipped=lambda m: ShardOutcome(m.name, run, "skipped"),
        )
        return report
    finally:
        catalog.dispose()


def _find_run(
    catalog: sa.Engine, members: Sequence[Member], options: ArchiveOptions
) -> tuple[str, dict[str, JournalEntry]]:
    """This table's unfinished run to resume (or a new run id), and its entry per shard."""
    names = {m.name for m in members}
    entries = [
        e
        for e in journal.archive_entries(catalog)
        if e.shard in names and (e.payload or {}).get("table") == options.group.parent.name
    ]
    unfinished = [e for e in entries if e.state == "open"]
    for entry in unfinished:
        if entry.payload.get("signature") != options.signature:
            raise InputError(
                f"{entry.shard}: run {entry.payload['run']} of {options.group.parent.name} is "
                f"unfinished (journal entry {entry.id}, step {entry.step}) with other options; "
                "rerun it with the same options to finish it first"
            )
    if not unfinished:
        return new_run_id(), {}
    run = str(unfinished[0].payload["run"])
    return run, {e.shard: e for e in entries if e.payload.get("run") == run and e.shard}


def _archive_shard(
    member: Member,
    run: str,
    entry: JournalEntry | None,
    catalog: sa.Engine,
    store: Store,
    options: ArchiveOptions,
    request: ArchiveRequest,
    on_chunk: Callable[[ChunkEvent], None] | None,
    target: sa.Table | None = None,
) -> ShardOutcome:
    if entry is not None and entry.state != "open":
        return ShardOutcome(member.name, run, "skipped", error="already done in this run")
    try:
        with locked_connection(
            member.primary, lock_timeout=request.lock_timeout, timeout=request.connect_timeout
        ) as lock_conn:
            busy = [
                e
                for e in open_entries(catalog, member.name)
                if not e.operation.startswith(journal.OPERATION)
            ]
            if busy:
                raise ShardBusy(
                    f"{member.name}: journal entry {busy[0].id} "
                    f"({busy[0].operation}) is open; archive after it finishes"
                )
            if entry is None:
                payload = new_payload(options, run, member.name, current_revision(lock_conn))
                entry_id = journal.open_shard_run(catalog, member.name, payload)
                resumed = False
            else:
                payload, entry_id, resumed = dict(entry.payload), entry.id, True
                # Resume with the filter (and cutoff) the run started with.
                resumed_filter = filter_from_dict(
                    options.group.parent, payload["manifest"]["filter"]
                )
                options = ArchiveOptions(**{**vars(options), "row_filter": resumed_filter})
            # The fast driver where installed: the raw reads are most of the worker's time.
            shard_ref = dataclasses.replace(
                member.primary, url=fast_url(member.primary.url, request.reader)
            )
            engine = utc_sessions(engine_for(shard_ref, timeout=request.connect_timeout))
            throttle = None
            if request.max_replica_lag is not None and member.replicas:
                throttle = LagThrottle(
                    member.replicas,
                    request.max_replica_lag,
                    request.replica_wait,
                    request.connect_timeout,
                )
            try:
                if target is not None:
                    TableMover(
                        engine=engine,
                        catalog=catalog,
                        options=options,
                        target=target,
                        shard=member.name,
                        entry_id=entry_id,
                        payload=payload,
                        on_chunk=on_chunk,
                    ).run(entry.step if entry else "start")
                    return _moved_outcome(member.name, payload, resumed)
                ShardArchiver(
                    engine=engine,
                    catalog=catalog,
                    store=store,
                    options=options,
                    shard=member.name,
                    entry_id=entry_id,
                    payload=payload,
                    on_chunk=on_chunk,
                    throttle=throttle,
                ).run(entry.step if entry else "start")
            finally:
                engine.dispose()
    except LockTimeout as exc:
        return ShardOutcome(member.name, run, "locked", error=exc.message)
    except ShardBusy as exc:
        return ShardOutcome(member.name, run, "refused", error=exc.message)
    except LmsDbError as exc:
        return ShardOutcome(member.name, run, "failed", error=exc.message)
    except sa.exc.DBAPIError as exc:
        return ShardOutcome(
            member.name,
            run,
            "failed",
            error=f"{member.primary.display}: {short_reason(exc, member.primary.url.password)}",
        )
    outcome = outcome_from_payload(member.name, payload)
    outcome.resumed = resumed
    return outcome


def _moved_outcome(shard: str, payload: dict[str, Any], resumed: bool) -> ShardOutcome:
    totals = payload_totals(payload)
    table = payload["table"]
    return ShardOutcome(
        shard,
        payload["run"],
        chunks=int(totals["chunks"]),
        rows={table: int(totals["rows"].get(table, 0))},
        superseded_rows=int(totals["superseded_rows"]),
        resumed=resumed,
    )


def _plan(
    member: Member, group: ArchiveGroup, options: ArchiveOptions, request: ArchiveRequest
) -> DryRunShard:
    engine = utc_sessions(engine_for(member.primary, timeout=request.connect_timeout))
    try:
        eligible, sample = count_eligible(engine, group, options.row_filter)
        with engine.connect() as conn:
            blocked = int(
                conn.execute(
                    blocked_query(group, options.row_filter, engine.dialect.name)
                ).scalar_one()
            )
    finally:
        engine.dispose()
    return DryRunShard(member.name, eligible, blocked, sample)
