"""The live shard map: seeding it from a topology, reading it, versioning its changes.

After the first seed the catalog is the truth about which shard serves which range; the
topology file only says where the servers are.  Every change to the map is written in the
same transaction as :func:`bump_map_version`, so a reader that caches the map by version
never mixes two maps.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.catalog.range_index import KeyspaceIndex
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


class ShardMap:
    """A consistent snapshot of the shard map (shared by every reader: never modify it).

    Each keyspace gets a :class:`~lms_db.catalog.range_index.KeyspaceIndex` built once per
    snapshot (when the map is read): :meth:`find` bisects its bounds, O(log n); the Router
    reads its bucket table, O(1) on an evenly cut keyspace.  A map read from the catalog builds its
    :class:`RangeAssignment` objects on first use (:attr:`ranges`, :meth:`find`,
    :meth:`for_keyspace`): a Router re-reads the map whenever its version moves and routes
    from the index alone.

    :param version: the map version it was read at (0: never seeded).
    :param ranges: every range (sorted by keyspace then ``lo`` when read from the catalog).
    """

    __slots__ = ("_bounds", "_columns", "_indexes", "_ranges", "version")

    version: int
    _ranges: tuple[RangeAssignment, ...] | None
    #: keyspace, lo, hi, shard and state of every range, until the range objects are made.
    _columns: Columns | None
    #: Per keyspace: the index (its ranges sorted by ``lo``).
    _indexes: dict[str, KeyspaceIndex]
    #: Per keyspace: the index's ``los`` and ``his``, and its ranges in that order (what
    #: :meth:`find` reads, in one dict lookup), once the range objects are made.
    _bounds: dict[str, Bounds] | None

    def __init__(self, version: int, ranges: Sequence[RangeAssignment]) -> None:
        self.version = version
        self._ranges = tuple(ranges)
        self._columns = None
        by_keyspace: dict[str, list[RangeAssignment]] = {}
        for r in self._ranges:
            by_keyspace.setdefault(r.keyspace, []).append(r)
        for keyspace_ranges in by_keyspace.values():
            keyspace_ranges.sort(key=_lo)  # stable: already sorted when read from the catalog
        self._indexes = {k: KeyspaceIndex.of(v) for k, v in by_keyspace.items()}
        self._bounds = {
            k: (index.los, index.his, tuple(by_keyspace[k])) for k, index in self._indexes.items()
        }

    @classmethod
    def of_rows(cls, version: int, rows: Sequence[Sequence[Any]]) -> ShardMap:
        """The map of ``(keyspace, lo, hi, shard, state)`` rows sorted by keyspace and ``lo``.

        :param version: the map version the rows were read at.
        :param rows: the rows, sorted.
        """
        columns: Columns = ([], [], [], [], [])
        _extend_columns(columns, rows)
        return cls.of_columns(version, columns)

    @classmethod
    def of_columns(cls, version: int, columns: Columns) -> ShardMap:
        """The map of ranges given column by column, sorted by keyspace and ``lo`` (the
        catalog table's primary key: in order, without duplicates, so no sort and no check).

        Range objects are built on first use.  Nothing here keeps a tuple per range alive
        (shard and state are numbered as ints): 20,000 long-lived containers per read would
        set off a full garbage collection of the whole process every few reads.

        :param version: the map version the rows were read at.
        :param columns: keyspace, lo, hi, shard and state lists, one entry per range.
        """
        shard_map = cls.__new__(cls)
        shard_map.version = version
        shard_map._ranges = None
        shard_map._bounds = None
        keyspaces, los, his, shards, states = columns
        if los and type(los[0]) is not int:  # a driver that returns BIGINT as Decimal
            columns = (keyspaces, list(map(int, los)), list(map(int, his)), shards, states)
            los, his = columns[1], columns[2]
        shard_map._columns = columns
        shard_names = list(dict.fromkeys(shards))
        state_names = list(dict.fromkeys(states))
        shard_no = {name: i for i, name in enumerate(shard_names)}
        state_no = {name: i for i, name in enumerate(state_names)}
        width = len(state_names)
        # (shard, state) as one int per range: shard number * width + state number.
        codes = [
            shard_no[shard] * width + state_no[state]
            for shard, state in zip(shards, states, strict=True)
        ]
        shard_map._indexes = {}
        start = 0
        for keyspace in dict.fromkeys(keyspaces):
            stop = start + keyspaces.count(keyspace)
            owner_codes = list(dict.fromkeys(codes[start:stop]))
            number = {code: i for i, code in enumerate(owner_codes)}
            shard_map._indexes[keyspace] = KeyspaceIndex(
                los[start:stop],
                his[start:stop],
                list(map(number.__getitem__, codes[start:stop])),
                tuple((shard_names[c // width], state_names[c % width]) for c in owner_codes),
            )
            start = stop
        return shard_map

    @property
    def ranges(self) -> tuple[RangeAssignment, ...]:
        """Every range, sorted by keyspace then ``lo`` when read from the catalog."""
        if self._ranges is None:
            assert self._columns is not None  # one of the two is always set
            keyspaces, los, his, shards, states = self._columns
            made = tuple(map(_new_object, repeat(RangeAssignment, len(los))))
            # Each assignment's __dict__ set at once: the frozen dataclass's __init__ would
            # make five object.__setattr__ calls per range.
            fields = [
                {"keyspace": k, "lo": lo, "hi": hi, "shard": shard, "state": state}
                for k, lo, hi, shard, state in zip(keyspaces, los, his, shards, states, strict=True)
            ]
            deque(map(_set_attribute, made, repeat("__dict__"), fields), maxlen=0)
            self._ranges, self._columns = made, None
        return self._ranges

    def _keyspace_bounds(self) -> dict[str, Bounds]:
        if self._bounds is None:
            bounds: dict[str, Bounds] = {}
            at = 0
            ranges = self.ranges
            for name, index in self._indexes.items():  # sorted: each keyspace is one slice
                bounds[name] = (index.los, index.his, ranges[at : at + len(index.los)])
                at += len(index.los)
            self._bounds = bounds
        return self._bounds

    def for_keyspace(self, keyspace: str) -> tuple[RangeAssignment, ...]:
        """The ranges of one keyspace, sorted by ``lo``.

        :param keyspace: ``user`` or ``course``.
        """
        found = self._keyspace_bounds().get(keyspace)
        return found[2] if found is not None else ()

    def index(self, keyspace: str) -> KeyspaceIndex | None:
        """The lookup index of one keyspace (``None``: it has no range), for hot paths.

        :param keyspace: ``user`` or ``course``.
        """
        return self._indexes.get(keyspace)

    def find(self, keyspace: str, key: int) -> RangeAssignment:
        """The range holding ``key``.

        :param keyspace: ``user`` or ``course``.
        :param key: a shard key value.
        :raises UnknownObjectError: no range of ``keyspace`` holds ``key``.
        """
        bounds = self._bounds if self._bounds is not None else self._keyspace_bounds()
        found = bounds.get(keyspace)
        if found is not None:
            # One bisect in C: for a lookup that returns a stored range this beats
            # KeyspaceIndex.position's bucket walk in Python, at 3 ranges as at 10,000 (the
            # Router, which builds a route per call, inlines the buckets instead).
            los, his, ranges = found
            i = bisect_right(los, key) - 1
            if i >= 0 and key < his[i]:
                return ranges[i]
        raise UnknownObjectError(
            f"no shard serves {keyspace} key {key} (shard map version {self.version})"
        )

    @property
    def shards(self) -> tuple[str, ...]:
        """Names of the shards that serve at least one range, sorted."""
        return tuple(
            sorted({shard for index in self._indexes.values() for shard, _ in index.owners})
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShardMap):
            return NotImplemented
        return self.version == other.version and self.ranges == other.ranges

    def __hash__(self) -> int:
        return hash((self.version, self.ranges))

    def __repr__(self) -> str:
        return f"ShardMap(version={self.version!r}, ranges={self.ranges!r})"


def _lo(r: RangeAssignment) -> int:
    return r.lo


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

    A Router re-reads it whenever the map's version moves, so a map of 10,000 ranges per
    keyspace is read in one pass: the driver's rows straight from the cursor (SQLAlchemy's
    row objects would cost a third of the read), the ranges and the lookup index's columns
    built together.

    :param engine: the catalog database (or a connection in the caller's transaction).
    :raises CatalogError: the database failed or the catalog tables are missing.
    """
    with begin(engine) as conn:
        # Version first: a map written in between is newer than its label, never older,
        # so a cache keyed by version re-reads it on the next version check.
        version = int(conn.execute(sa.select(map_version.c.version)).scalar() or 0)
        result = conn.execute(_RANGES_IN_ORDER)
        columns: Columns = ([], [], [], [], [])
        try:
            # A batch at a time: the driver's row tuples then die young instead of all
            # surviving the read (see ShardMap.of_columns).
            while batch := result.cursor.fetchmany(_FETCH_BATCH):
                _extend_columns(columns, batch)
        finally:
            result.close()
    return ShardMap.of_columns(version, columns)


#: keyspace, lo, hi, shard and state lists of a shard map, one entry per range.
Columns = tuple[list[str], list[int], list[int], list[str], list[str]]
#: One keyspace's ``lo`` and ``hi`` lists and its ranges, in the same order.
Bounds = tuple[list[int], list[int], tuple[RangeAssignment, ...]]
#: Rows of the shard map fetched at once.
_FETCH_BATCH = 2_000


def _extend_columns(columns: Columns, rows: Sequence[Sequence[Any]]) -> None:
    if rows:
        keyspaces, los, his, shards, states = zip(*rows, strict=True)
        columns[0].extend(keyspaces)
        columns[1].extend(los)
        columns[2].extend(his)
        columns[3].extend(shards)
        columns[4].extend(states)


#: The shard map's rows in primary-key order.
_RANGES_IN_ORDER = sa.select(
    shard_ranges.c.keyspace,
    shard_ranges.c.lo,
    shard_ranges.c.hi,
    shard_ranges.c.shard,
    shard_ranges.c.state,
).order_by(shard_ranges.c.keyspace, shard_ranges.c.lo)
_new_object = object.__new__
_set_attribute = object.__setattr__


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
