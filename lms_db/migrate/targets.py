"""Which databases a fleet command works on, and the checks made before touching any of them.

A :class:`Member` is one database lmsdb migrates with its replicas: a shard primary
(``--target oltp``) or the analytics database (``--target analytics``).  The shards are those
of the topology file plus those only the catalog knows (added by ``lmsdb shard add``).

:func:`preflight` raises an :class:`~lms_db.errors.InputError` (exit 2) for unknown shard
names, an unknown revision, an unreachable primary or catalog, or a "replica" that is really
a writable primary, before anything is created or changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from lms_db.catalog import shards as catalog_shards
from lms_db.catalog.identity import check_identity, read_fleet_id, read_identity
from lms_db.catalog.schema import upgrade_if_needed
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import ConfigError, ConnectionFailed, UnknownObjectError
from lms_db.migrate.replication import check_replica_role
from lms_db.migrate.scripts import check_target, resolve_revision, script_directory
from lms_db.router.pool import read_locations
from lms_db.topology.engines import connect_check, engine_for, short_reason
from lms_db.topology.spec import DatabaseRef, Topology

log = logging.getLogger(__name__)

#: The member name of the analytics database in results and in the journal.
ANALYTICS_MEMBER = "analytics"


@dataclass(frozen=True)
class Member:
    """One database a fleet command migrates or checks, with its replicas.

    :param name: the shard's name, or ``analytics``.
    :param primary: the database written to.
    :param replicas: read-only copies, never written.
    """

    name: str
    primary: DatabaseRef
    replicas: tuple[DatabaseRef, ...] = ()


def registered_members(
    topology: Topology, *, timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> list[Member]:
    """Shards the catalog knows but the topology file does not (``lmsdb shard add``).

    Reads only; a catalog that does not exist yet (no file, no tables) knows no shard.

    :param topology: the validated topology.
    :param timeout: seconds to wait for the catalog.
    :raises ConnectionFailed: the catalog is unreachable.
    :raises ConfigError: a registered shard's URL cannot be expanded.
    """
    ref = topology.catalog
    database = ref.url.database or ""
    if ref.dialect == "sqlite" and database and not Path(database).exists():
        return []
    connect_check(ref, timeout, "the catalog")
    engine = engine_for(ref, timeout=timeout, poolclass=sa.pool.NullPool)
    try:
        upgrade_if_needed(engine)
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(catalog_shards.name):
                return []
            locations = read_locations(conn, topology)
    except sa.exc.DBAPIError as exc:
        raise ConnectionFailed(
            f"cannot read the catalog {ref.display}: {short_reason(exc, ref.url.password)}"
        ) from exc
    finally:
        engine.dispose()
    return [
        Member(loc.name, loc.primary, loc.replicas)
        for loc in locations.values()
        if loc.source == "catalog"
    ]


def select_members(
    topology: Topology,
    target: str,
    names: Sequence[str] = (),
    *,
    registered: Sequence[Member] = (),
) -> list[Member]:
    """The databases of ``target``, narrowed to the shards ``names`` (all when empty).

    :param topology: the validated topology.
    :param target: ``oltp`` (every shard primary) or ``analytics`` (the analytics database).
    :param names: ``--shard`` values; duplicates are ignored.
    :param registered: shards known only to the catalog (:func:`registered_members`), after
        the topology's own.
    :raises UnknownObjectError: unknown target or shard name.
    :raises ConfigError: ``analytics`` without an ``[analytics]`` section, or ``--shard``
        with ``analytics``.
    """
    check_target(target)
    if target == "analytics":
        if names:
            raise ConfigError("--shard applies to --target oltp; analytics is one database")
        if topology.analytics is None:
            raise ConfigError(
                f'{topology.path}: analytics: no [analytics] section; add one with url = "..."'
            )
        return [Member(ANALYTICS_MEMBER, topology.analytics)]
    members = [Member(s.name, s.primary, s.replicas) for s in topology.shards]
    members += [m for m in registered if m.name not in topology.shard_names]
    if not names:
        return members
    known_names = [m.name for m in members]
    unknown = [n for n in dict.fromkeys(names) if n not in known_names]
    if unknown:
        raise UnknownObjectError(
            f"unknown shard(s) {', '.join(unknown)} in --shard (known: {', '.join(known_names)})"
        )
    wanted = set(names)
    return [m for m in members if m.name in wanted]


@dataclass(frozen=True)
class Prepared:
    """What :func:`preflight` checked and resolved.

    :param members: the databases to work on, in topology order.
    :param script: the target's version history.
    :param revision: the resolved revision (``None``: base).
    :param head: the history's newest revision.
    """

    members: tuple[Member, ...]
    script: ScriptDirectory
    revision: str | None
    head: str | None


def preflight(
    topology: Topology,
    *,
    target: str = "oltp",
    revision: str = "head",
    shards: Sequence[str] = (),
    root: Path | None = None,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
    check_catalog: bool = True,
    check_replicas: bool = True,
) -> Prepared:
    """Validate a fleet command's input and reach every primary, changing nothing.

    :param topology: the validated topology.
    :param target: ``oltp`` or ``analytics``.
    :param revision: ``head``, ``base``, an id or a unique prefix.
    :param shards: ``--shard`` names (all when empty).
    :param root: a migrations directory to use instead of lmsdb's own.
    :param timeout: seconds to wait for each server.
    :param check_catalog: also check that the catalog database answers.
    :param check_replicas: also refuse replicas that are writable non-replicas.
    :raises UnknownObjectError: unknown target, shard or revision.
    :raises ConfigError: bad migrations directory or topology section.
    :raises ConnectionFailed: the catalog or a primary is unreachable or refuses the login.
    :raises ReplicaWritable: a replica is a writable primary.
    """
    registered = registered_members(topology, timeout=timeout) if target == "oltp" else []
    members = select_members(topology, target, shards, registered=registered)
    script = script_directory(target, root)
    wanted = resolve_revision(script, revision)
    refs = [(m.primary, f"shard {m.name} primary") for m in members]
    if check_catalog:
        refs.insert(0, (topology.catalog, "the catalog"))
    with ThreadPoolExecutor(max_workers=min(8, len(refs))) as pool:
        failures = list(pool.map(lambda ref: _reach(ref[0], ref[1], timeout), refs))
    for failure in failures:
        if failure is not None:
            raise failure
    if check_replicas:
        for member in members:
            for replica in member.replicas:
                check_replica_role(replica, timeout=timeout)
    if target == "oltp":
        check_identities(topology, members, timeout=timeout)
    return Prepared(tuple(members), script, wanted, script.get_current_head())


def catalog_fleet_id(topology: Topology, *, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> str | None:
    """The fleet id of the topology's catalog (``None``: no catalog, or none recorded yet).

    :raises ConnectionFailed: the catalog cannot be read.
    """
    ref = topology.catalog
    if _missing_sqlite(ref):
        return None
    engine = engine_for(ref, timeout=timeout, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return read_fleet_id(conn)
    except sa.exc.DBAPIError as exc:
        raise ConnectionFailed(
            f"cannot read the catalog {ref.display}: {short_reason(exc, ref.url.password)}"
        ) from exc
    finally:
        engine.dispose()


def check_identities(
    topology: Topology, members: Sequence[Member], *, timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> None:
    """Refuse a primary whose identity row names another shard or fleet (changes nothing).

    :raises TopologyMismatch: a primary is another shard's or another fleet's database.
    :raises ConnectionFailed: a primary cannot be read.
    """
    fleet_id = catalog_fleet_id(topology, timeout=timeout)
    for member in members:
        if _missing_sqlite(member.primary):
            continue
        engine = engine_for(member.primary, timeout=timeout, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                found = read_identity(conn)
        except sa.exc.DBAPIError as exc:
            raise ConnectionFailed(
                f"{member.name}: cannot read {member.primary.display}: "
                f"{short_reason(exc, member.primary.url.password)}"
            ) from exc
        finally:
            engine.dispose()
        check_identity(found, fleet_id, member.name, member.primary)


def _missing_sqlite(ref: DatabaseRef) -> bool:
    database = ref.url.database or ""
    return (
        ref.dialect == "sqlite"
        and bool(database)
        and database != ":memory:"
        and not Path(database).exists()
    )


def _reach(ref: DatabaseRef, what: str, timeout: float) -> Exception | None:
    try:
        connect_check(ref, timeout, what)
    except Exception as exc:  # returned, then raised in topology order by the caller
        return exc
    return None
