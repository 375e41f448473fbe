"""What each shard is: the fleet's id in the catalog, an identity row in each shard database.

Two checks keep a topology typo from sending lmsdb to the wrong database:

- **Location** (no shard connection needed): the catalog records where each shard's primary
  is (``shards.primary_url_template``, written when the shard was seeded or added).  A
  topology that points a recorded shard at another database is refused
  (:class:`~lms_db.errors.TopologyMismatch`, exit 2) naming both; ``lmsdb shard set`` is how
  a shard really moves.
- **Identity** (read from the shard): each shard database holds one row in
  ``lmsdb_identity`` naming its fleet (the catalog's ``fleet.fleet_id``) and its shard.
  ``migrate up``, ``shard add`` and ``shard set`` write it; every command that opens the
  fleet (the Router and ``migrate``'s preflight) refuses a database whose row names another
  shard or another fleet (a catalog URL typo would otherwise seed a second map over live
  shards).

A database without the row is *adopted*: a fresh shard, a shard of a catalog upgraded from
v1, or a shard rebuilt by ``DROP/CREATE DATABASE`` (the row went with it) carries on, and
the next ``migrate up`` writes the row again.  The location check still guards it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.catalog.schema import fleet, shards, utcnow
from lms_db.config import expand_env
from lms_db.errors import ConfigError, TopologyMismatch
from lms_db.topology.urls import DatabaseRef, location_key, show_location

log = logging.getLogger(__name__)

#: The table holding a shard database's identity row (ignored by drift checks).
IDENTITY_TABLE = "lmsdb_identity"

identity_metadata = sa.MetaData()
shard_identity = sa.Table(
    IDENTITY_TABLE,
    identity_metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("fleet_id", sa.String(36), nullable=False),
    sa.Column("shard", sa.String(64), nullable=False),
    sa.Column("written_at", sa.DateTime(), nullable=False),
    sa.CheckConstraint("id = 1", name="ck_lmsdb_identity_single_row"),
    mysql_engine="InnoDB",
    mariadb_engine="InnoDB",
)


@dataclass(frozen=True)
class ShardIdentity:
    """Which shard of which fleet a database is.

    :param fleet_id: the catalog's fleet id.
    :param shard: the shard's name.
    """

    fleet_id: str
    shard: str


def read_fleet_id(conn: Connection) -> str | None:
    """The catalog's fleet id (``None``: a catalog not yet at version 2).

    :param conn: a connection to the catalog.
    """
    if not sa.inspect(conn).has_table(fleet.name):
        return None
    value = conn.execute(sa.select(fleet.c.fleet_id).where(fleet.c.id == 1)).scalar()
    return None if value is None else str(value)


def read_identity(conn: Connection) -> ShardIdentity | None:
    """The identity row of a shard database (``None``: no row, the database is adopted).

    :param conn: a connection to the shard's primary.
    """
    if not sa.inspect(conn).has_table(IDENTITY_TABLE):
        return None
    row = conn.execute(sa.select(shard_identity.c.fleet_id, shard_identity.c.shard)).first()
    return None if row is None else ShardIdentity(str(row[0]), str(row[1]))


def check_identity(
    found: ShardIdentity | None, fleet_id: str | None, shard: str, ref: DatabaseRef
) -> None:
    """Refuse a database whose identity row names another shard or fleet.

    :param found: what :func:`read_identity` returned.
    :param fleet_id: the catalog's fleet id (``None``: a catalog without one yet).
    :param shard: the shard the topology or the catalog says ``ref`` is.
    :param ref: the database, for the message.
    :raises TopologyMismatch: the row disagrees.
    """
    if found is None:
        return
    where = f"{ref.field}: " if ref.field else ""
    if fleet_id is None or found.fleet_id != fleet_id:
        raise TopologyMismatch(
            f"{where}{ref.display} is {found.shard} of another fleet (fleet id "
            f"{found.fleet_id}), not of the fleet of this catalog "
            f"({fleet_id or 'a new catalog'}): check the catalog URL and the shard URLs "
            "(docs/runbook.md, 'Wrong database in the topology')"
        )
    if found.shard != shard:
        raise TopologyMismatch(
            f"{where}{ref.display} is shard {found.shard} (its identity row), but is given as "
            f"shard {shard}: fix the topology (docs/runbook.md, 'Wrong database in the "
            "topology')"
        )


def write_identity(conn: Connection, identity: ShardIdentity, ref: DatabaseRef) -> bool:
    """Write the identity row unless it is there; ``True`` when written now.

    :param conn: a connection to the shard's primary (committed by the caller).
    :param identity: the fleet and shard it is.
    :param ref: the database, for messages.
    :raises TopologyMismatch: the database already carries another identity.
    """
    shard_identity.create(conn, checkfirst=True)
    found = read_identity(conn)
    if found is not None:
        check_identity(found, identity.fleet_id, identity.shard, ref)
        return False
    conn.execute(
        shard_identity.insert().values(
            id=1, fleet_id=identity.fleet_id, shard=identity.shard, written_at=utcnow()
        )
    )
    log.info("wrote the identity of %s into %s", identity.shard, ref.display)
    return True


def recorded_locations(
    conn: Connection, environ: Mapping[str, str] | None = None
) -> dict[str, tuple[object, ...]]:
    """Where the catalog recorded each shard's primary: ``name -> location key``.

    Only the host, port and database of each stored template are expanded: no password is
    needed to compare locations.

    :param conn: a connection to the catalog.
    :param environ: variables to expand with instead of the process environment.
    """
    found: dict[str, tuple[object, ...]] = {}
    for name, template in conn.execute(
        sa.select(shards.c.name, shards.c.primary_url_template).where(shards.c.state != "removed")
    ):
        try:
            url = sa.engine.make_url(template)

            def ex(value: str | None, field: str = f"catalog shards.{name}") -> str | None:
                return None if value is None else expand_env(value, where=field, environ=environ)

            url = url.set(host=ex(url.host), database=ex(url.database), password=None)
        except (sa.exc.ArgumentError, ValueError, ConfigError):
            continue  # unusable: reported when the URL itself is opened
        if (
            url.get_backend_name() == "sqlite"
            and url.database
            and not (url.database.startswith(("/", "file:")) or url.database == ":memory:")
        ):
            continue  # relative to a directory the catalog does not know (lmsdb 1 kept them)
        found[name] = location_key(url)
    return found


def check_locations(
    conn: Connection,
    primaries: Iterable[tuple[str, DatabaseRef]],
    environ: Mapping[str, str] | None = None,
) -> None:
    """Refuse a topology that points a shard the catalog knows at another database.

    :param conn: a connection to the catalog.
    :param primaries: ``(shard name, primary)`` as the topology gives them.
    :param environ: variables to expand with instead of the process environment.
    :raises TopologyMismatch: a shard's primary differs from the catalog's record.
    """
    recorded = recorded_locations(conn, environ)
    for name, ref in primaries:
        where = recorded.get(name)
        if where is None or where == ref.location:
            continue
        owner = next((n for n, loc in recorded.items() if loc == ref.location), None)
        also = f" (that database is {owner}'s)" if owner else ""
        raise TopologyMismatch(
            f"{ref.field or name}: the topology points {name} at {show_location(ref.location)}"
            f"{also}, but the catalog recorded {name} at {show_location(where)}: fix the "
            f"topology, or if {name} really moved run `lmsdb shard set {name} --primary URL`"
        )


def read_identity_of(ref: DatabaseRef, *, timeout: float) -> ShardIdentity | None:
    """The identity row of the database ``ref`` names (``None``: none, or a new SQLite file,
    which is not created by looking).

    :raises sqlalchemy.exc.DBAPIError: the database cannot be read (callers translate it).
    """
    from lms_db.topology.engines import engine_for

    database = ref.url.database or ""
    if (
        ref.dialect == "sqlite"
        and database
        and database != ":memory:"
        and (not database.startswith("file:") and not Path(database).exists())
    ):
        return None
    engine = engine_for(ref, timeout=timeout, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return read_identity(conn)
    finally:
        engine.dispose()


def stamp_identities(
    catalog: Engine, primaries: Iterable[tuple[str, DatabaseRef]], *, timeout: float
) -> list[str]:
    """Write the identity row into each primary that has none; the shards stamped now.

    A primary that cannot be reached keeps no row for now (it stays adopted); the next
    ``migrate up`` writes it.

    :param catalog: the catalog (at version 2: it has a fleet id).
    :param primaries: ``(shard name, primary)``.
    :param timeout: seconds each connection may take.
    :raises TopologyMismatch: a primary carries another identity (found by the preflight
        already, unless it changed meanwhile).
    """
    from lms_db.catalog.schema import begin
    from lms_db.topology.engines import engine_for

    with begin(catalog) as conn:
        fleet_id = read_fleet_id(conn)
    if fleet_id is None:
        return []
    stamped = []
    for name, ref in primaries:
        engine = engine_for(ref, timeout=timeout, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                if write_identity(conn, ShardIdentity(fleet_id, name), ref):
                    stamped.append(name)
        except sa.exc.DBAPIError as exc:
            log.warning(
                "could not write the identity of %s into %s: %s", name, ref.display, exc.orig
            )
        finally:
            engine.dispose()
    return stamped
