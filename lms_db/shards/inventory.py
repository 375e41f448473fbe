"""What the fleet holds: the shard map as a listing, and each shard's load and health.

:func:`list_ranges` backs ``lmsdb shard list``; :func:`shard_status` backs
``lmsdb shard status``: exact row counts and on-disk bytes per keyspace, the shard's share
of all sharded rows, id-window headroom, replica lag and schema revision.  A shard that
cannot be read is reported with its error, never raised, so one bad server does not hide
the rest of the fleet.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.catalog.journal_view import OpenOperation, list_open
from lms_db.dialects.facts import is_mysql_family
from lms_db.errors import LmsDbError
from lms_db.ids.topup import needing_windows
from lms_db.ids.windows import Headroom, IdWindows
from lms_db.router.keys import ROUTED_KEYSPACES, keyspace_tables
from lms_db.router.router import DEFAULT_PARALLEL, Router
from lms_db.topology.engines import short_reason
from lms_db.topology.spec import SHARDED_KEYSPACES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RangeRow:
    """One range of the map: keys ``lo <= key < hi`` of ``keyspace`` on ``shard``."""

    keyspace: str
    lo: int
    hi: int
    shard: str
    state: str


@dataclass(frozen=True)
class MapListing:
    """The shard map at one version, with every known shard (those owning no range too).

    :param map_version: the catalog's map version.
    :param ranges: every range by keyspace then ``lo``.
    :param shards: every shard name, sorted.
    """

    map_version: int
    ranges: tuple[RangeRow, ...]
    shards: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "map_version": self.map_version,
            "shards": list(self.shards),
            "ranges": [vars(r) for r in self.ranges],
        }


def list_ranges(router: Router) -> MapListing:
    """The live shard map (re-read from the catalog now).

    :param router: the Router.
    :raises CatalogError: the catalog cannot be read.
    """
    shard_map = router.refresh()
    rows = tuple(RangeRow(r.keyspace, r.lo, r.hi, r.shard, r.state) for r in shard_map.ranges)
    return MapListing(shard_map.version, rows, router.shards())


@dataclass(frozen=True)
class KeyspaceLoad:
    """Rows and bytes of one keyspace's tables on one shard.

    :param keyspace: ``user``, ``course`` or ``global``.
    :param rows: exact row count, all its tables.
    :param bytes: data and index bytes (``None``: the backend does not say).
    :param tables: rows per table.
    """

    keyspace: str
    rows: int
    bytes: int | None
    tables: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplicaLag:
    """One replica's replication lag (``None`` with ``error`` when unknown)."""

    database: str
    lag_seconds: float | None
    error: str | None = None


@dataclass(frozen=True)
class ShardLoad:
    """One shard's load and health.

    :param shard: the shard.
    :param database: its primary (masked URL).
    :param keyspaces: rows and bytes per keyspace.
    :param share: its share of all ``user`` and ``course`` rows of the fleet (0..1).
    :param windows: id-window headroom per table.
    :param replicas: replica lag.
    :param revision: the primary's schema revision (``None``: none recorded).
    :param head: the newest revision lmsdb ships.
    :param error: why the shard could not be read, if it could not.
    :param without_windows: id tables the shard has no live window for (MySQL/MariaDB and
        PostgreSQL: its counter may hand out ids another shard owns).
    """

    shard: str
    database: str
    keyspaces: tuple[KeyspaceLoad, ...] = ()
    share: float = 0.0
    windows: tuple[Headroom, ...] = ()
    replicas: tuple[ReplicaLag, ...] = ()
    revision: str | None = None
    head: str | None = None
    error: str | None = None
    without_windows: tuple[str, ...] = ()

    @property
    def sharded_rows(self) -> int:
        """Rows of the ``user`` and ``course`` keyspaces (global copies left out)."""
        return sum(k.rows for k in self.keyspaces if k.keyspace in SHARDED_KEYSPACES)

    @property
    def at_head(self) -> bool:
        """Whether the primary is at the newest revision."""
        return self.error is None and self.revision is not None and self.revision == self.head

    @property
    def counter_faults(self) -> tuple[str, ...]:
        """Counters that would hand out an id outside the shard's windows, each with the
        command that fixes it."""
        fix = f"run lmsdb shard grant-windows --shard {self.shard}"
        faults = [f"{w.fault}; {fix}" for w in self.windows if w.fault]
        if self.without_windows:
            faults.append(
                f"no id window for {', '.join(self.without_windows)} (its counter "
                f"may hand out ids another shard owns); {fix}"
            )
        return tuple(faults)

    @property
    def low_windows(self) -> tuple[Headroom, ...]:
        """Windows with little headroom left (grant new ones soon)."""
        return tuple(w for w in self.windows if w.low)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "shard": self.shard,
            "database": self.database,
            "error": self.error,
            "rows": {k.keyspace: k.rows for k in self.keyspaces},
            "bytes": {k.keyspace: k.bytes for k in self.keyspaces},
            "tables": {k.keyspace: k.tables for k in self.keyspaces},
            "share": round(self.share, 6),
            "revision": self.revision,
            "head": self.head,
            "at_head": self.at_head,
            "id_windows": [
                {
                    "table": w.table,
                    "lo": w.lo,
                    "hi": w.hi,
                    "next_id": w.next_id,
                    "used": w.used,
                    "remaining": w.remaining,
                    "windows": w.windows,
                    "low": w.low,
                    "granted_per_reservation": w.per_reservation,
                    "counter": w.counter,
                    "fault": w.fault,
                }
                for w in self.windows
            ],
            "counter_faults": list(self.counter_faults),
            "without_windows": list(self.without_windows),
            "replicas": [vars(r) for r in self.replicas],
        }


@dataclass(frozen=True)
class FleetLoad:
    """Every shard's load, at one map version, and the operations still open.

    :param map_version: the catalog's map version.
    :param shards: each shard's load.
    :param open_operations: open journal entries (``lmsdb journal list`` shows them).
    """

    map_version: int
    shards: tuple[ShardLoad, ...]
    open_operations: tuple[OpenOperation, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "map_version": self.map_version,
            "shards": [s.to_dict() for s in self.shards],
            "open_operations": [o.to_dict() for o in self.open_operations],
        }


def shard_status(
    router: Router, *, parallel: int = DEFAULT_PARALLEL, shards: Sequence[str] = ()
) -> FleetLoad:
    """Rows, bytes, share, id-window headroom, replica lag and revision of every shard.

    :param router: the Router.
    :param parallel: shards read at once.
    :param shards: only these shards (default: all).
    :raises UnknownObjectError: an unknown shard was asked for.
    :raises CatalogError: the catalog cannot be read.
    """
    version = router.refresh().version
    names = list(shards) or list(router.shards())
    for name in names:
        router.location(name)  # unknown names fail before any work
    head = _head_revision()
    windows = IdWindows(router)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        loads = list(pool.map(lambda n: _one(router, windows, n, head), names))
    total = sum(s.sharded_rows for s in loads)
    shared = tuple(replace(s, share=s.sharded_rows / total if total else 0.0) for s in loads)
    return FleetLoad(version, shared, tuple(list_open(router.catalog)))


def _one(router: Router, windows: IdWindows, name: str, head: str | None) -> ShardLoad:
    location = router.location(name)
    try:
        with router.engine_for_shard(name).connect() as conn:
            sizes = _table_bytes(conn)
            existing = set(sa.inspect(conn).get_table_names())
            keyspaces = tuple(_keyspace_load(conn, k, existing, sizes) for k in ROUTED_KEYSPACES)
            revision = _revision(conn) if "alembic_version" in existing else None
        headroom = tuple(windows.headroom(name)) if "users" in existing else ()
        sqlite = router.engine_for_shard(name).dialect.name == "sqlite"
        missing = (
            ()
            if sqlite
            else tuple(
                t
                for t in needing_windows(router, windows, name, existing)
                if t not in {h.table for h in headroom}
            )
        )
    except (LmsDbError, sa.exc.DBAPIError) as exc:
        reason = exc.message if isinstance(exc, LmsDbError) else short_reason(exc)
        return ShardLoad(name, location.primary.display, head=head, error=reason)
    replicas = tuple(_lag(router, ref) for ref in location.replicas)
    return ShardLoad(
        name,
        location.primary.display,
        keyspaces,
        0.0,
        headroom,
        replicas,
        revision,
        head,
        without_windows=missing,
    )


def _keyspace_load(
    conn: Connection, keyspace: str, existing: set[str], sizes: dict[str, int] | None
) -> KeyspaceLoad:
    tables = {}
    for table in keyspace_tables(keyspace):
        if table.name in existing:
            tables[table.name] = int(
                conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            )
    size = None if sizes is None else sum(sizes.get(t, 0) for t in tables)
    return KeyspaceLoad(keyspace, sum(tables.values()), size, tables)


def _table_bytes(conn: Connection) -> dict[str, int] | None:
    """Data + index bytes per table, or ``None`` when the backend cannot say."""
    name = conn.dialect.name
    try:
        if is_mysql_family(name):
            rows = conn.execute(
                sa.text(
                    "SELECT TABLE_NAME, COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) "
                    "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                )
            ).all()
        elif name == "postgresql":
            rows = conn.execute(
                sa.text(
                    "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
                )
            ).all()
        else:
            rows = conn.execute(
                sa.text(
                    "SELECT m.tbl_name, SUM(d.pgsize) FROM dbstat d "
                    "JOIN sqlite_master m ON m.name = d.name GROUP BY m.tbl_name"
                )
            ).all()
    except sa.exc.DBAPIError:
        conn.rollback()  # SQLite built without dbstat
        return None
    return {str(t): int(b or 0) for t, b in rows}


def _revision(conn: Connection) -> str | None:
    value = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def _head_revision() -> str | None:
    # Imported here: the fleet layer loads Alembic, which listing the map does not need.
    from lms_db.migrate.scripts import head_revision, script_directory

    try:
        return head_revision(script_directory("oltp"))
    except LmsDbError:
        return None


def _lag(router: Router, ref: Any) -> ReplicaLag:
    from lms_db.migrate.replication import replication_info

    try:
        with router.pool.get(ref).connect() as conn:
            info = replication_info(conn)
        return ReplicaLag(ref.display, info.lag_seconds, info.error)
    except sa.exc.DBAPIError as exc:
        return ReplicaLag(ref.display, None, short_reason(exc))
