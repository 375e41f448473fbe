"""The Router: which shard holds a key, and engines and sessions for it.

A :class:`Router` reads the live shard map from the catalog and caches it.  Before it
answers, it checks the catalog's map version at most once every ``max_staleness`` seconds
(:data:`DEFAULT_MAX_STALENESS`) and re-reads the map when the version changed.

**Staleness bound.**  A map change committed at time *t* is used by every routing call that
starts after *t* + ``max_staleness`` (the check's clock starts before its query is sent).
Calls in between may still use the previous map; that is why a move freezes a range and
waits out the bound before it copies the last rows (see ``docs/concepts.md``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.catalog import (
    CatalogError,
    RangeAssignment,
    ShardMap,
    read_map_version,
    read_shard_map,
    seed_from_topology,
)
from lms_db.catalog.identity import check_identity, read_fleet_id, read_identity
from lms_db.catalog.schema import begin, upgrade_if_needed
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import (
    ConfigError,
    LmsDbError,
    OperationError,
    RangeFrozen,
    UnknownObjectError,
)
from lms_db.router.keys import GLOBAL_KEYSPACE, MAX_KEY, check_keyspace, parse_key
from lms_db.router.pool import EnginePool, ShardLocation, read_locations
from lms_db.topology.engines import engine_for, short_reason
from lms_db.topology.spec import SHARDED_KEYSPACES, Topology

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

#: Seconds a cached shard map may be used before the catalog's version is checked again.
DEFAULT_MAX_STALENESS = 1.0
#: Shards a scatter works on at once.
DEFAULT_PARALLEL = 4
#: Suggested pause before retrying a write to a frozen range, in seconds.
DEFAULT_FROZEN_RETRY = 1.0

T = TypeVar("T")
ScatterWork = Callable[[str, Connection], T]


@dataclass(frozen=True)
class ShardRoute:
    """Where a key lives, as the Router's map says.

    :param keyspace: the keyspace asked about.
    :param key: the key asked about.
    :param shard: the shard that owns the range holding the key.
    :param state: the range's state: ``serving``, ``moving`` or ``frozen``.
    :param lo: first key of that range.
    :param hi: first key after that range.
    :param map_version: the version of the map the answer came from.
    """

    keyspace: str
    key: int
    shard: str
    state: str
    lo: int
    hi: int
    map_version: int

    @property
    def writable(self) -> bool:
        """Whether writes are accepted (every state but ``frozen``)."""
        return self.state != "frozen"


class Router:
    """Routes keys to shards and hands out engines and sessions; a context manager.

    :param catalog: an engine on the catalog database (the caller keeps ownership).
    :param topology: the loaded topology: where each shard's databases are.
    :param max_staleness: seconds a cached map is used before the version is checked again;
        ``0`` checks on every call.
    :param connect_timeout: seconds each new connection to a shard may take.
    :param clock: a monotonic clock (tests).
    :raises CatalogError: the catalog cannot be read.
    :raises ConfigError: the catalog has no shard map yet.
    """

    def __init__(
        self,
        catalog: Engine,
        topology: Topology,
        *,
        max_staleness: float = DEFAULT_MAX_STALENESS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_staleness < 0:
            raise ConfigError(f"max_staleness must be >= 0 seconds, not {max_staleness}")
        self.catalog = catalog
        self.topology = topology
        self.max_staleness = max_staleness
        self.pool = EnginePool(connect_timeout)
        self._clock = clock
        self._lock = threading.Lock()
        self._owns_catalog = False
        self._replica_turn: dict[str, itertools.count[int]] = {}
        self._checked_at = clock()
        self._verified: set[str] = set()
        self.fleet_id: str | None = None
        try:
            upgrade_if_needed(catalog)
            self._use(*self._read())
        except CatalogError as exc:
            if _has_map_tables(catalog):
                raise
            raise ConfigError(
                f"catalog {catalog.url.render_as_string(hide_password=True)} has no shard map "
                "yet: run `lmsdb migrate up` (or Router.from_topology(..., seed=True))"
            ) from exc
        if self._map.version == 0:
            raise ConfigError(
                f"catalog {catalog.url.render_as_string(hide_password=True)} has no shard map "
                "yet: run `lmsdb migrate up` (or Router.from_topology(..., seed=True))"
            )

    @classmethod
    def from_topology(
        cls,
        topology: Topology,
        *,
        seed: bool = False,
        max_staleness: float = DEFAULT_MAX_STALENESS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> Router:
        """A Router on the topology's catalog; :meth:`close` disposes of every engine.

        :param topology: the loaded topology.
        :param seed: first write the topology's shards and ranges into a catalog that has
            none (creating the catalog tables); does nothing once the catalog has a map.
        :param max_staleness: see :class:`Router`.
        :param connect_timeout: seconds each new connection may take.
        :raises CatalogError: the catalog cannot be read (or seeded).
        :raises ConfigError: the catalog has no shard map and ``seed`` is false.
        """
        catalog = engine_for(topology.catalog, timeout=connect_timeout, pool_pre_ping=True)
        try:
            if seed:
                seed_from_topology(catalog, topology)
            router = cls(
                catalog, topology, max_staleness=max_staleness, connect_timeout=connect_timeout
            )
        except BaseException:
            catalog.dispose()
            raise
        router._owns_catalog = True
        return router

    # -- the cached map -------------------------------------------------------------------

    def _read(self) -> tuple[ShardMap, dict[str, ShardLocation]]:
        with begin(self.catalog) as conn:
            shard_map = read_shard_map(conn)
            locations = read_locations(conn, self.topology)
            self.fleet_id = read_fleet_id(conn)
        self._verified = set()  # locations may have changed (shard set): check them again
        return shard_map, locations

    def _use(self, shard_map: ShardMap, locations: dict[str, ShardLocation]) -> None:
        """Put a map in use; its routing tables last, so the hot path never sees them older
        than the map (they carry their map's version)."""
        self._map, self._locations = shard_map, locations
        self._routing = _routing_tables(shard_map)

    def _fresh(self) -> ShardMap:
        """The cached map, after checking the catalog's version if the cache is too old."""
        if self._clock() - self._checked_at < self.max_staleness:
            return self._map
        with self._lock:
            started = self._clock()
            if started - self._checked_at < self.max_staleness:
                return self._map  # another thread checked meanwhile
            if read_map_version(self.catalog) != self._map.version:
                self._use(*self._read())
                log.info("shard map now at version %d", self._map.version)
            self._checked_at = started
            return self._map

    def refresh(self) -> ShardMap:
        """Re-read the shard map now, whatever its age.

        :raises CatalogError: the catalog cannot be read.
        """
        with self._lock:
            started = self._clock()
            self._use(*self._read())
            self._checked_at = started
            return self._map

    @property
    def shard_map(self) -> ShardMap:
        """The shard map in use (checked against the catalog per the staleness bound)."""
        return self._fresh()

    @property
    def map_version(self) -> int:
        """The version of the shard map in use."""
        return self._fresh().version

    # -- routing --------------------------------------------------------------------------

    def shard_for(self, keyspace: str, key: int | str) -> ShardRoute:
        """The shard holding ``key`` of ``keyspace``, with the range's state.

        :param keyspace: ``user`` or ``course``.
        :param key: a non-negative integer (a string of digits is accepted).
        :raises UnknownObjectError: unknown keyspace, or no range holds the key.
        :raises InputError: the key is not a non-negative integer.
        """
        # The hot path of every routed query: the common cases (a known keyspace, an int
        # key in range, a fresh map) are tested inline and KeyspaceIndex.position is inlined
        # too (a call is a tenth of the cost); anything else goes through the validators and
        # ShardMap.find, which raise the same errors as ever.
        if keyspace not in SHARDED_KEYSPACES:
            keyspace = check_keyspace(keyspace)
        value = key if type(key) is int and 0 <= key <= MAX_KEY else parse_key(key)
        if self._clock() - self._checked_at >= self.max_staleness:
            self._fresh()
        found = self._routing.get(keyspace)
        if found is not None:
            base, shift, top, lo_at, hi_at, owner_at, templates = found
            bucket = (value - base) >> shift
            if bucket >= 0:
                if bucket > top:
                    bucket = top
                hi = hi_at[bucket]
                if value >= hi:  # a range boundary inside the bucket: the next bucket's range
                    bucket += 1
                    hi = hi_at[bucket]
                    if not lo_at[bucket] <= value < hi:
                        return self._found(keyspace, value)  # two boundaries, a gap, no range
                # A ShardRoute without the frozen dataclass's __init__ (one
                # object.__setattr__ per field): its __dict__ filled in from the owner's
                # template, the same object for under a third of the instructions.
                route: ShardRoute = _new_object(ShardRoute)
                fields = route.__dict__
                fields.update(templates[owner_at[bucket]])
                fields["key"] = value
                fields["lo"] = lo_at[bucket]
                fields["hi"] = hi
                return route
        return self._found(keyspace, value)

    def _found(self, keyspace: str, key: int) -> ShardRoute:
        """The route of ``key`` from :meth:`ShardMap.find` (the hot path's slow way)."""
        shard_map = self._map
        return _route(keyspace, key, shard_map.find(keyspace, key), shard_map.version)

    def check_writable(self, keyspace: str, key: int | str) -> ShardRoute:
        """The route for a write to ``key``, refusing a frozen range.

        :param keyspace: ``user`` or ``course``.
        :param key: the key written.
        :raises RangeFrozen: the range is frozen (retryable: try again after a pause).
        :raises UnknownObjectError: unknown keyspace, or no range holds the key.
        :raises InputError: the key is not a non-negative integer.
        """
        route = self.shard_for(keyspace, key)
        if not route.writable:
            raise RangeFrozen(
                f"{keyspace} range [{route.lo}, {route.hi}) on {route.shard} is frozen "
                f"(shard map version {route.map_version}): retry the write in "
                f"{DEFAULT_FROZEN_RETRY:g}s",
                keyspace=keyspace,
                key=route.key,
                shard=route.shard,
                retry_after=DEFAULT_FROZEN_RETRY,
            )
        return route

    def engine_for(self, keyspace: str, key: int | str, *, read: bool = False) -> Engine:
        """An engine on the shard holding ``key``.

        :param keyspace: ``user`` or ``course``.
        :param key: the shard key.
        :param read: reads only: a replica when the shard has one (its lag applies),
            and allowed while the range is frozen.
        :raises RangeFrozen: a write to a frozen range.
        :raises UnknownObjectError: unknown keyspace, or no range holds the key.
        :raises InputError: the key is not a non-negative integer.
        """
        route = self.shard_for(keyspace, key) if read else self.check_writable(keyspace, key)
        return self.engine_for_shard(route.shard, read=read)

    def session_for(
        self, keyspace: str, key: int | str, *, read: bool = False, **kwargs: Any
    ) -> Session:
        """An ORM session bound to the shard holding ``key`` (close it when done).

        :param keyspace: ``user`` or ``course``.
        :param key: the shard key.
        :param read: see :meth:`engine_for`.
        :param kwargs: passed to :class:`sqlalchemy.orm.Session`.
        :raises RangeFrozen: a write to a frozen range.
        :raises UnknownObjectError: unknown keyspace, or no range holds the key.
        """
        from sqlalchemy.orm import Session  # the ORM is slow to load; routing needs none

        return Session(bind=self.engine_for(keyspace, key, read=read), **kwargs)

    # -- shards ---------------------------------------------------------------------------

    def shards(self, keyspace: str | None = None) -> tuple[str, ...]:
        """Shard names, sorted: all known shards, or those owning a range of ``keyspace``.

        :param keyspace: ``None`` or ``global``: every shard; ``user``/``course``: the owners.
        :raises UnknownObjectError: unknown keyspace.
        """
        shard_map = self._fresh()
        if keyspace is None or check_keyspace(keyspace, allow_global=True) == GLOBAL_KEYSPACE:
            return tuple(sorted(self._locations))
        return tuple(sorted({r.shard for r in shard_map.for_keyspace(keyspace)}))

    def location(self, shard: str) -> ShardLocation:
        """Where ``shard``'s databases are.

        :param shard: a shard name.
        :raises UnknownObjectError: no shard has that name.
        """
        self._fresh()
        try:
            return self._locations[shard]
        except KeyError:
            known = ", ".join(sorted(self._locations)) or "none"
            raise UnknownObjectError(f"unknown shard {shard!r} (known: {known})") from None

    def engine_for_shard(self, shard: str, *, read: bool = False) -> Engine:
        """An engine on ``shard``'s primary, or on one of its replicas (round robin).

        :param shard: a shard name.
        :param read: prefer a replica when the shard has any.
        :raises UnknownObjectError: no shard has that name.
        """
        location = self.location(shard)
        if read and location.replicas:
            turn = self._replica_turn.setdefault(shard, itertools.count())
            ref = location.replicas[next(turn) % len(location.replicas)]
            return self.pool.get(ref)
        engine = self.pool.get(location.primary)
        if shard not in self._verified:
            self._verify_identity(shard, location, engine)
        return engine

    def _verify_identity(self, shard: str, location: ShardLocation, engine: Engine) -> None:
        """Refuse a primary whose identity row names another shard or fleet (once per shard).

        An unreachable primary is not checked here: the caller's own query reports it.
        """
        try:
            with engine.connect() as conn:
                found = read_identity(conn)
        except sa.exc.DBAPIError:
            return
        check_identity(found, self.fleet_id, shard, location.primary)
        with self._lock:
            self._verified.add(shard)

    def analytics_engine(self) -> Engine:
        """An engine on the analytics database.

        :raises ConfigError: the topology has no ``[analytics]`` database.
        """
        if self.topology.analytics is None:
            raise ConfigError(f"{self.topology.path}: no [analytics] database is configured")
        return self.pool.get(self.topology.analytics)

    # -- scatter --------------------------------------------------------------------------

    def scatter(
        self,
        keyspace: str,
        work: ScatterWork[T] | str | sa.Executable,
        *,
        parallel: int = DEFAULT_PARALLEL,
        read: bool = False,
    ) -> dict[str, Any]:
        """Run ``work`` on every shard of ``keyspace``, at most ``parallel`` shards at once.

        ``work`` is a callable ``(shard, connection) -> value`` run inside a transaction
        (committed when it returns), or a query whose rows are returned as a list.

        :param keyspace: ``user``/``course`` (shards owning a range) or ``global`` (all).
        :param work: the callable or the query (SQL text or a SQLAlchemy statement).
        :param parallel: the most shards worked on at once (at least 1).
        :param read: run on a replica of each shard when it has one.
        :returns: each shard's value, by shard name in sorted order.
        :raises OperationError: ``work`` failed on a shard (the first failure, by shard
            order; an lmsdb error is re-raised as it is).
        :raises UnknownObjectError: unknown keyspace.
        """
        names = self.shards(keyspace)
        run = _as_work(work)

        def one(shard: str) -> Any:
            with self.engine_for_shard(shard, read=read).begin() as conn:
                return run(shard, conn)

        results: dict[str, Any] = {}
        failures: dict[str, BaseException] = {}
        with ThreadPoolExecutor(
            max_workers=max(1, parallel), thread_name_prefix="lmsdb-scatter"
        ) as executor:
            futures = {name: executor.submit(one, name) for name in names}
            for name, future in futures.items():
                error = future.exception()
                if error is None:
                    results[name] = future.result()
                else:
                    failures[name] = error
        if failures:
            shard, error = next(iter(failures.items()))
            if isinstance(error, LmsDbError):
                raise error
            reason = short_reason(error) if isinstance(error, sa.exc.DBAPIError) else str(error)
            raise OperationError(
                f"scatter over {len(names)} shards of {keyspace} failed on {shard}"
                f"{f' (and {len(failures) - 1} more)' if len(failures) > 1 else ''}: {reason}"
            ) from error
        return results

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Dispose of every engine the Router opened (and the catalog's, if it opened it)."""
        self.pool.close()
        if self._owns_catalog:
            self.catalog.dispose()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Router({self.topology.path}, map_version={self._map.version})"


_new_object = object.__new__


def _route(keyspace: str, key: int, found: RangeAssignment, version: int) -> ShardRoute:
    """A :class:`ShardRoute` built without the frozen dataclass's ``__init__``.

    That ``__init__`` sets its seven fields one ``object.__setattr__`` call at a time, which
    is most of the cost of a lookup; filling the new object's ``__dict__`` at once makes the
    same object (same fields in the same order, equality, hash and ``vars()``) for a fraction
    of the price.
    """
    route: ShardRoute = _new_object(ShardRoute)
    route.__dict__.update(
        keyspace=keyspace,
        key=key,
        shard=found.shard,
        state=found.state,
        lo=found.lo,
        hi=found.hi,
        map_version=version,
    )
    return route


#: One keyspace's lookup index unpacked (base, shift, top, lo_at, hi_at, owner_at), then
#: one ShardRoute ``__dict__`` template per owner of the index.
_RoutingTable = tuple[int, int, int, memoryview, memoryview, memoryview, list[dict[str, Any]]]


def _routing_tables(shard_map: ShardMap) -> dict[str, _RoutingTable]:
    """Per keyspace: its index's fields, unpacked in one step on the hot path instead of
    six attribute reads, and one ShardRoute ``__dict__`` per owner (shard, state) of the
    index, which :meth:`Router.shard_for` copies into each route it makes and fills in with
    key, lo and hi."""
    tables = {}
    for keyspace in SHARDED_KEYSPACES:
        index = shard_map.index(keyspace)
        if index is not None:
            templates = [
                {
                    "keyspace": keyspace,
                    "key": 0,
                    "shard": shard,
                    "state": state,
                    "lo": 0,
                    "hi": 0,
                    "map_version": shard_map.version,
                }
                for shard, state in index.owners
            ]
            tables[keyspace] = (
                index.base,
                index.shift,
                index.top,
                index.lo_at,
                index.hi_at,
                index.owner_at,
                templates,
            )
    return tables


def _as_work(work: ScatterWork[T] | str | sa.Executable) -> Callable[[str, Connection], Any]:
    if callable(work):
        return work
    statement = sa.text(work) if isinstance(work, str) else work

    def query(shard: str, conn: Connection) -> list[Any]:
        return list(conn.execute(statement).all())

    return query


def _has_map_tables(catalog: Engine) -> bool:
    try:
        return bool(sa.inspect(catalog).has_table("map_version"))
    except sa.exc.DBAPIError:
        return True  # unreachable: let the original error speak
