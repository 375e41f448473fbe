"""The catalog's tables, on their own ``MetaData``, and :func:`ensure_catalog`.

The catalog (a ``lmsdb_catalog`` database on MariaDB/MySQL, a database on PostgreSQL, a file
on SQLite) holds the live shard map, the id windows and the journal of running operations.
Its tables never mix with ``lms_db.metadata``: they live on a different server than the shards
and are created here, not by the OLTP migrations.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.errors import CatalogError, CatalogTooNew
from lms_db.topology.engines import short_reason

log = logging.getLogger(__name__)

#: Version of the catalog tables this lmsdb writes and understands.  Raising it means
#: adding an upgrade step to :data:`lms_db.catalog.upgrades.UPGRADE_STEPS` (see there).
CATALOG_SCHEMA_VERSION = 2
#: The version a brand-new catalog is recorded at before the upgrade steps run over it:
#: every catalog, new or old, goes through the same (idempotent) steps.
BASE_CATALOG_VERSION = 1
#: States of a range in the shard map.
RANGE_STATES = ("serving", "moving", "frozen")
#: States of a journal entry.
JOURNAL_STATES = ("open", "done", "failed")
#: State a shard is registered with.
DEFAULT_SHARD_STATE = "active"

_NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
_TABLE_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mariadb_engine": "InnoDB",
    "mariadb_charset": "utf8mb4",
}

#: The catalog schema; never part of ``lms_db.metadata``.
catalog_metadata = sa.MetaData(naming_convention=_NAMING_CONVENTION)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _states(column: str, states: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{s}'" for s in states)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_valid")


shards = sa.Table(
    "shards",
    catalog_metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    # As written in the topology (``${VAR}`` kept): the catalog never stores a secret.
    sa.Column("primary_url_template", sa.String(1024), nullable=False),
    # v2: the replicas' URL templates as a JSON list; NULL: those of the topology file.
    sa.Column("replica_url_templates", sa.Text(), nullable=True),
    sa.Column("state", sa.String(16), nullable=False, default=DEFAULT_SHARD_STATE),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    **_TABLE_OPTIONS,
)

shard_ranges = sa.Table(
    "shard_ranges",
    catalog_metadata,
    sa.Column("keyspace", sa.String(16), primary_key=True),
    sa.Column("lo", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("hi", sa.BigInteger(), nullable=False),
    sa.Column("shard", sa.String(64), sa.ForeignKey("shards.name"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, default="serving"),
    sa.Column("map_version", sa.BigInteger(), nullable=False),
    sa.CheckConstraint("lo >= 0 AND lo < hi", name="bounds"),
    _states("state", RANGE_STATES),
    **_TABLE_OPTIONS,
)

map_version = sa.Table(
    "map_version",
    catalog_metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.CheckConstraint("id = 1", name="single_row"),
    **_TABLE_OPTIONS,
)

id_windows = sa.Table(
    "id_windows",
    catalog_metadata,
    sa.Column("table_name", sa.String(64), primary_key=True),
    sa.Column("lo", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("hi", sa.BigInteger(), nullable=False),
    sa.Column("shard", sa.String(64), sa.ForeignKey("shards.name"), nullable=False),
    sa.Column("granted_at", sa.DateTime(), nullable=False),
    sa.CheckConstraint("lo >= 0 AND lo < hi", name="bounds"),
    **_TABLE_OPTIONS,
)

journal = sa.Table(
    "journal",
    catalog_metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("operation", sa.String(32), nullable=False),
    sa.Column("shard", sa.String(64), nullable=True),
    sa.Column("keyspace", sa.String(16), nullable=True),
    sa.Column("lo", sa.BigInteger(), nullable=True),
    sa.Column("hi", sa.BigInteger(), nullable=True),
    sa.Column("step", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, default="open"),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.Index(None, "state", "shard"),
    _states("state", JOURNAL_STATES),
    **_TABLE_OPTIONS,
)

#: v2: one row naming this fleet; each shard database carries the id (its identity row).
fleet = sa.Table(
    "fleet",
    catalog_metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("fleet_id", sa.String(36), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.CheckConstraint("id = 1", name="single_row"),
    **_TABLE_OPTIONS,
)

catalog_schema = sa.Table(
    "catalog_schema",
    catalog_metadata,
    sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
    **_TABLE_OPTIONS,
)


def utcnow() -> datetime:
    """Now in UTC as a naive datetime (``DATETIME`` columns carry no zone on MySQL)."""
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def begin(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection in a transaction: a new one for an engine, the caller's for a connection.

    Driver errors become :class:`CatalogError` naming the catalog by its masked URL.

    :param bind: the catalog engine, or a connection inside the caller's transaction.
    :raises CatalogError: the database refused a statement or could not be reached.
    """
    try:
        if isinstance(bind, Engine) and bind.dialect.name == "sqlite":
            # pysqlite defers BEGIN to the first write, so two processes could both read
            # "no ranges yet" and both seed; BEGIN IMMEDIATE takes the write lock up front.
            with bind.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
                conn.commit()
        elif isinstance(bind, Engine):
            with bind.begin() as conn:
                yield conn
        else:
            yield bind
    except sa.exc.DBAPIError as exc:
        url = bind.engine.url
        reason = short_reason(exc, url.password if isinstance(url.password, str) else None)
        shown = url.render_as_string(hide_password=True)
        raise CatalogError(f"catalog {shown}: {reason}") from exc


def ensure_catalog(engine: Engine) -> int:
    """Create the catalog tables that are missing, then bring the catalog to this version.

    Idempotent, and safe when several processes run it at once (new catalog or upgrade):
    the upgrade steps (:mod:`lms_db.catalog.upgrades`) run under the catalog's upgrade lock.

    :param engine: the catalog database.
    :returns: the catalog schema version (:data:`CATALOG_SCHEMA_VERSION`).
    :raises CatalogTooNew: the catalog was written by a newer lmsdb (exit 2).
    :raises CatalogError: the database failed.
    """
    from lms_db.catalog.upgrades import upgrade_catalog

    version = read_catalog_version(engine)
    if version is not None and version > CATALOG_SCHEMA_VERSION:
        raise_too_new(engine, version)
    if version == CATALOG_SCHEMA_VERSION:
        return version
    _create_tables(engine)
    _insert_once(
        engine,
        sa.select(catalog_schema.c.version),
        catalog_schema.insert().values(version=BASE_CATALOG_VERSION),
    )
    _insert_once(
        engine,
        sa.select(map_version.c.id),
        map_version.insert().values(id=1, version=0, updated_at=utcnow()),
    )
    return upgrade_catalog(engine)


def upgrade_if_needed(engine: Engine) -> None:
    """Upgrade a catalog that exists but is older than this lmsdb; create nothing new.

    :param engine: the catalog database.
    :raises CatalogTooNew: the catalog is newer than this lmsdb.
    :raises CatalogError: the database failed.
    """
    version = read_catalog_version(engine)
    if version is not None and version != CATALOG_SCHEMA_VERSION:
        ensure_catalog(engine)


def read_catalog_version(bind: Engine | Connection) -> int | None:
    """The catalog's schema version; ``None`` when it has no ``catalog_schema`` table yet.

    :param bind: the catalog engine or a connection.
    :raises CatalogError: the database failed.
    """
    with begin(bind) as conn:
        if not sa.inspect(conn).has_table(catalog_schema.name):
            return None
        value = conn.execute(sa.select(sa.func.max(catalog_schema.c.version))).scalar()
    return None if value is None else int(value)


def raise_too_new(bind: Engine | Connection, version: int) -> None:
    """Refuse a catalog upgraded by a newer lmsdb.

    :raises CatalogTooNew: always.
    """
    shown = bind.engine.url.render_as_string(hide_password=True)
    raise CatalogTooNew(
        f"catalog {shown}: schema version {version} is newer than this lmsdb understands "
        f"({CATALOG_SCHEMA_VERSION}); upgrade lmsdb (pip install -U lmsdb) before using it"
    )


def _create_tables(engine: Engine, attempts: int = 5) -> None:
    for attempt in range(attempts):
        try:
            with begin(engine) as conn:
                catalog_metadata.create_all(conn, checkfirst=True)
            return
        except CatalogError:
            # Another process created a table between our check and our CREATE.
            if attempt == attempts - 1:
                raise
            log.info("catalog creation raced with another process; retrying")
            time.sleep(0.05 * (attempt + 1))


def _insert_once(engine: Engine, exists: sa.Select[Any], insert: sa.Insert) -> None:
    """Insert a bootstrap row unless it exists; losing a race to another process is fine."""
    try:
        with begin(engine) as conn:
            if conn.execute(exists.limit(1)).first() is None:
                conn.execute(insert)
    except CatalogError as exc:
        if not isinstance(exc.__cause__, sa.exc.IntegrityError):
            raise
