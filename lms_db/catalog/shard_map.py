"""The live shard map: seeding it from a topology, reading it, versioning its changes.

After the first seed the catalog is the truth about which shard serves which range; the
topology file only says where the servers are.  Every change to the map is written in the
same transaction as :func:`bump_map_version`, so a reader that caches the map by version
never mixes two maps.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.catalog.schema import (
    begin,
    ensure_catalog,
    map_version,
    shard_ranges,
    shards,
    utcnow,
)
from lms_db.errors import CatalogError, UnknownObjectError

if TYPE_CHECKING:
    from lms_db.topology.spec import Topology

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RangeAssignment:
    """One row of the shard map: keys ``lo <= key < hi`` of ``keyspace`` live on ``shard``.

    :param keyspace: ``user`` or ``course``.
    :param lo: first key of the range.
    :param hi: first key after the range.
    :param shard: the shard serving it.
    :param state: ``serving``, ``moving`` (being copied) or ``frozen`` (writes paused).
    """

    keyspace: str
    lo: int
    hi: int
    shard: str
    state: str

    def contains(self, key: int) -> bool:
        """Whether ``key`` falls in ``[lo, hi)``.

        :param key: a shard key value.
        """
        return self.lo <= key < self.hi


@dataclass(frozen=True)
class ShardMap:
    """A consistent snapshot of the shard map.

    :param version: the map version it was read at (0: never seeded).
    :param ranges: every range, sorted by keyspace then ``lo``.
    """

    version: int
    ranges: tuple[RangeAssignment, ...]

    def for_keyspace(self, keyspace: str) -> tuple[RangeAssignment, ...]:
        """The ranges of one keyspace, sorted by ``lo``.

        :param keyspace: ``user`` or ``course``.
        """
        return tuple(r for r in self.ranges if r.keyspace == keyspace)

    def find(self, keyspace: str, key: int) -> RangeAssignment:
        """The range holding ``key``.

        :param keyspace: ``user`` or ``course``.
        :param key: a shard key value.
        :raises UnknownObjectError: no range of ``keyspace`` holds ``key``.
        """
        ranges = self.for_keyspace(keyspace)
        index = bisect.bisect_right([r.lo for r in ranges], key) - 1
        if index >= 0 and ranges[index].contains(key):
            return ranges[index]
        raise UnknownObjectError(
            f"no shard serves {keyspace} key {key} (shard map version {self.version})"
        )

    @property
    def shards(self) -> tuple[str, ...]:
        """Names of the shards that serve at least one range, sorted."""
        return tuple(sorted({r.shard for r in self.ranges}))


def seed_from_topology(engine: Engine, topology: Topology) -> bool:
    """Write the topology's shards and ranges into a catalog that has no ranges yet.

    Creates the catalog tables first if needed.  Once any range is in the catalog this
    does nothing: the catalog, changed by moves and splits, is the truth from then on.

    :param engine: the catalog database.
    :param topology: the validated topology to seed from.
    :returns: ``True`` when the catalog was seeded now, ``False`` when it already had ranges.
    :raises CatalogError: the database failed.
    """
    ensure_catalog(engine)
    with begin(engine) as conn:
        # The map_version row lock serializes two operators seeding at once.
        conn.execute(sa.select(map_version.c.version).with_for_update()).scalar_one()
        known = set(conn.execute(sa.select(shards.c.name)).scalars())
        now = utcnow()
        # Every topology shard gets a row: it records where the shard is (the location
        # check of lms_db.catalog.identity compares later topologies with it).
        new_shards = [
            {
                "name": s.name,
                "primary_url_template": s.primary.template,
                "state": "active",
                "created_at": now,
            }
            for s in topology.shards
            if s.name not in known
        ]
        if conn.execute(sa.select(sa.func.count()).select_from(shard_ranges)).scalar():
            if new_shards:
                conn.execute(shards.insert(), new_shards)
            return False
        ranges = [
            (keyspace, lo, hi, spec.name)
            for spec in topology.shards
            for keyspace, (lo, hi) in spec.ranges.items()
        ]
        if not new_shards and not ranges:
            return False
        if new_shards:
            conn.execute(shards.insert(), new_shards)
        version = bump_map_version(conn)
        if ranges:
            conn.execute(
                shard_ranges.insert(),
                [
                    {
                        "keyspace": k,
                        "lo": lo,
                        "hi": hi,
                        "shard": shard,
                        "state": "serving",
                        "map_version": version,
                    }
                    for k, lo, hi, shard in ranges
                ],
            )
    log.info("seeded the catalog from %s: %d ranges", topology.path, len(ranges))
    return True


def read_shard_map(engine: Engine | Connection) -> ShardMap:
    """Read the whole shard map.

    :param engine: the catalog database (or a connection in the caller's transaction).
    :raises CatalogError: the database failed or the catalog tables are missing.
    """
    with begin(engine) as conn:
        # Version first: a map written in between is newer than its label, never older,
        # so a cache keyed by version re-reads it on the next version check.
        version = conn.execute(sa.select(map_version.c.version)).scalar()
        rows = conn.execute(
            sa.select(
                shard_ranges.c.keyspace,
                shard_ranges.c.lo,
                shard_ranges.c.hi,
                shard_ranges.c.shard,
                shard_ranges.c.state,
            ).order_by(shard_ranges.c.keyspace, shard_ranges.c.lo)
        ).all()
    ranges = tuple(
        RangeAssignment(keyspace=k, lo=int(lo), hi=int(hi), shard=shard, state=state)
        for k, lo, hi, shard, state in rows
    )
    return ShardMap(version=int(version or 0), ranges=ranges)


def read_map_version(engine: Engine | Connection) -> int:
    """The current map version alone (cheap: what a cache checks before re-reading).

    :param engine: the catalog database or a connection.
    :raises CatalogError: the database failed.
    """
    with begin(engine) as conn:
        return int(conn.execute(sa.select(map_version.c.version)).scalar() or 0)


def bump_map_version(conn: Connection) -> int:
    """Increase the map version by one inside the caller's transaction.

    Call it in the same transaction as the range change it announces.

    :param conn: a connection in a transaction on the catalog.
    :returns: the new version.
    :raises CatalogError: the database failed.
    """
    with begin(conn):
        result = conn.execute(
            map_version.update()
            .where(map_version.c.id == 1)
            .values(version=map_version.c.version + 1, updated_at=utcnow())
        )
        if result.rowcount != 1:
            raise CatalogError("the catalog has no map_version row; run ensure_catalog first")
        return int(conn.execute(sa.select(map_version.c.version)).scalar_one())


def lock_map(conn: Connection) -> int:
    """Hold the catalog's map lock until the caller's transaction ends; the current version.

    Id-window grants and range changes take it first (the ``map_version`` row, locked for
    update; SQLite's ``BEGIN IMMEDIATE`` already serializes writers), so they run one at a
    time and each decides on what the others committed: two grants computed from the same
    read would otherwise overlap, or deadlock on InnoDB's gap locks.  Readers never wait.

    :param conn: a connection in a transaction on the catalog.
    :raises CatalogError: the database failed, or the catalog has no map_version row.
    """
    with begin(conn):
        version = conn.execute(
            sa.select(map_version.c.version).where(map_version.c.id == 1).with_for_update()
        ).scalar()
    if version is None:
        raise CatalogError("the catalog has no map_version row; run ensure_catalog first")
    return int(version)
