"""``add_shard``: register a new, empty shard, migrate it to head and grant it id windows.

The new shard owns no key range until a move gives it one; it gets a copy of the global
tables and id windows for every non-key table at once (``users``/``courses`` windows follow
its first owned range).  Everything is checked before anything is written: the name is new,
no shard or replica already uses the database, the database is reachable and empty.  The
shard's URLs are stored in the catalog as written (``${VAR}`` kept, never a secret: a
literal password is refused by :mod:`lms_db.topology.urls`), so any Router finds it without a
topology edit; its primary gets its identity row (:mod:`lms_db.catalog.identity`).
Replicas are checked as ``migrate up`` checks them: a writable server is refused.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lms_db.catalog import (
    IdWindow,
    bump_map_version,
    close_journal_entry,
    open_entries,
    open_journal_entry,
    seed_from_topology,
)
from lms_db.catalog import shards as catalog_shards
from lms_db.catalog.identity import (
    check_identity,
    read_fleet_id,
    read_identity_of,
    stamp_identities,
)
from lms_db.catalog.schema import begin, upgrade_if_needed, utcnow
from lms_db.errors import InputError
from lms_db.ids.windows import IdWindows
from lms_db.migrate.replication import check_replica_role
from lms_db.router.keys import keyspace_tables
from lms_db.router.pool import SHARD_ADD_OPERATION, read_locations
from lms_db.router.router import Router
from lms_db.schema.compare import LMSDB_OWN_TABLES
from lms_db.topology.engines import connect_check, engine_for
from lms_db.topology.spec import Topology
from lms_db.topology.urls import DatabaseRef, database_ref

log = logging.getLogger(__name__)

_SHARD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

Migrate = Callable[[DatabaseRef], str]


@dataclass(frozen=True)
class AddedShard:
    """What ``add_shard`` did.

    :param name: the new shard.
    :param primary: its primary (masked URL).
    :param replicas: its replicas (masked URLs).
    :param revision: the schema revision it was migrated to.
    :param windows: the id windows granted.
    :param global_rows: rows of global tables copied in.
    :param map_version: the map version that announces it.
    """

    name: str
    primary: str
    replicas: tuple[str, ...]
    revision: str
    windows: tuple[IdWindow, ...]
    global_rows: int
    map_version: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "primary": self.primary,
            "replicas": list(self.replicas),
            "revision": self.revision,
            "global_rows": self.global_rows,
            "map_version": self.map_version,
            "id_windows": [{"table": w.table_name, "lo": w.lo, "hi": w.hi} for w in self.windows],
        }


def _default_migrate(ref: DatabaseRef) -> str:
    from lms_db.migrate.database import upgrade_database

    return upgrade_database(ref, "head", target="oltp")


def add_shard(
    topology: Topology,
    name: str,
    primary: str,
    replicas: Sequence[str] = (),
    *,
    migrate: Migrate | None = None,
    connect_timeout: float = 5.0,
    dry_run: bool = False,
) -> AddedShard:
    """Register shard ``name`` on the empty database ``primary`` and make it ready.

    :param topology: the loaded topology (catalog, existing shards).
    :param name: the new shard's name.
    :param primary: its primary's URL (``${VAR}`` expanded from the environment).
    :param replicas: its replicas' URLs.
    :param migrate: migrates a database to head and returns the revision (default:
        :func:`lms_db.migrate.database.upgrade_database`).
    :param connect_timeout: seconds each connection may take.
    :param dry_run: run every check, change nothing (``revision`` is ``"dry-run"``).
    :raises InputError: bad or duplicate name, a URL already used by a shard, a database
        that is not empty, or an unreachable server (nothing was changed).
    :raises MigrationFailed: migrating failed (the shard is not registered; rerun resumes).
    :raises CatalogError: the catalog failed.
    """
    if not _SHARD_NAME.fullmatch(name):
        raise InputError(
            f"shard name {name!r} is invalid: use 1-64 letters, digits, '.', '_' or '-'"
        )
    primary_ref = database_ref(primary, field="--primary")
    template = primary_ref.template  # references kept, SQLite paths made absolute
    replica_refs = [database_ref(r, field=f"--replica[{i}]") for i, r in enumerate(replicas)]
    replica_templates = [ref.template for ref in replica_refs]
    catalog = engine_for(topology.catalog, timeout=connect_timeout)
    try:
        if not dry_run:
            seed_from_topology(catalog, topology)
        else:
            upgrade_if_needed(catalog)  # an older catalog cannot be read as it is
        resuming = _check_new(catalog, topology, name, template, primary_ref, replica_refs)
        for ref in (primary_ref, *replica_refs):
            connect_check(ref, connect_timeout)
        for ref in replica_refs:  # the same checks migrate up makes
            check_replica_role(ref, timeout=connect_timeout)
        with begin(catalog) as conn:
            fleet_id = read_fleet_id(conn)
        check_identity(
            read_identity_of(primary_ref, timeout=connect_timeout), fleet_id, name, primary_ref
        )
        if not resuming:
            _check_empty(primary_ref, connect_timeout)
        if dry_run:
            return AddedShard(
                name,
                primary_ref.display,
                tuple(r.display for r in replica_refs),
                "dry-run",
                (),
                0,
                0,
            )
        payload = {"primary": template, "replicas": replica_templates}
        entry = resuming or open_journal_entry(
            catalog, operation=SHARD_ADD_OPERATION, step="migrate", shard=name, payload=payload
        )
        revision = (migrate or _default_migrate)(primary_ref)
        with Router(catalog, topology, connect_timeout=connect_timeout) as router:
            copied = _copy_globals(router, primary_ref, connect_timeout)
        with begin(catalog) as conn:
            conn.execute(
                catalog_shards.insert().values(
                    name=name,
                    primary_url_template=template,
                    replica_url_templates=json.dumps(replica_templates),
                    state="active",
                    created_at=utcnow(),
                )
            )
            version = bump_map_version(conn)
            close_journal_entry(conn, entry, step="registered", payload=payload)
        stamp_identities(catalog, [(name, primary_ref)], timeout=connect_timeout)
        with Router(catalog, topology, max_staleness=0, connect_timeout=connect_timeout) as router:
            granted = IdWindows(router).ensure_windows(name)
    finally:
        catalog.dispose()
    log.info("added shard %s at %s (revision %s)", name, primary_ref.display, revision)
    return AddedShard(
        name,
        primary_ref.display,
        tuple(r.display for r in replica_refs),
        revision,
        tuple(granted),
        copied,
        version,
    )


def _check_new(
    catalog: sa.Engine,
    topology: Topology,
    name: str,
    template: str,
    primary: DatabaseRef,
    replicas: Sequence[DatabaseRef],
) -> int | None:
    """Refuse a known name or a database in use; the id of an unfinished add to resume."""
    with begin(catalog) as conn:
        locations = read_locations(conn, topology)
        removed = conn.execute(
            sa.select(catalog_shards.c.name).where(
                catalog_shards.c.name == name, catalog_shards.c.state == "removed"
            )
        ).first()
    if removed is not None:
        raise InputError(
            f"shard name {name!r} belonged to a removed shard (its id windows "
            "stay reserved); choose another name"
        )
    if name in locations:
        raise InputError(
            f"shard {name!r} already exists ({locations[name].primary.display}); "
            "choose another name"
        )
    used = {}
    for location in locations.values():
        used[_location(location.primary)] = f"the primary of {location.name}"
        for ref in location.replicas:
            used[_location(ref)] = f"a replica of {location.name}"
    used[_location(topology.catalog)] = "the catalog"
    if topology.analytics is not None:
        used[_location(topology.analytics)] = "the analytics database"
    seen = set()
    for ref in (primary, *replicas):
        key = _location(ref)
        if key in used:
            raise InputError(
                f"{ref.field}: {ref.display} is already {used[key]}; "
                "a new shard needs its own empty database"
            )
        if key in seen:
            raise InputError(f"{ref.field}: {ref.display} is given twice")
        seen.add(key)
    for entry in open_entries(catalog, name, operation=SHARD_ADD_OPERATION):
        if entry.shard == name and (entry.payload or {}).get("primary") == template:
            return entry.id
    return None


def _location(ref: DatabaseRef) -> tuple[object, ...]:
    return ref.location


def _check_empty(ref: DatabaseRef, timeout: float) -> None:
    engine = engine_for(ref, timeout=timeout, poolclass=sa.pool.NullPool)
    try:
        tables = [t for t in sa.inspect(engine).get_table_names() if t not in LMSDB_OWN_TABLES]
    finally:
        engine.dispose()
    if tables:
        shown = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
        raise InputError(
            f"{ref.field}: {ref.display} is not empty ({len(tables)} tables: "
            f"{shown}); shard add needs an empty database"
        )


def _copy_globals(router: Router, target: DatabaseRef, timeout: float) -> int:
    """Copy the global tables from the first shard that has them; returns rows copied."""
    tables = keyspace_tables("global")
    source = None
    for shard in router.shards():
        with router.engine_for_shard(shard).connect() as conn:
            if (
                sa.inspect(conn).has_table(tables[0].name)
                and conn.execute(sa.select(sa.func.count()).select_from(tables[0])).scalar()
            ):
                source = shard
                break
    if source is None:
        return 0
    copied = 0
    engine = engine_for(target, timeout=timeout, poolclass=sa.pool.NullPool)
    try:
        with router.engine_for_shard(source).connect() as src, engine.begin() as dst:
            for table in tables:  # dependency order
                rows = [dict(r) for r in src.execute(sa.select(table)).mappings()]
                for batch in _parents_first(table, rows):
                    dst.execute(table.insert(), batch)
                copied += len(rows)
    finally:
        engine.dispose()
    return copied


def _parents_first(table: sa.Table, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows in waves so a self-referencing parent is always inserted before its children."""
    parent = next((fk.parent.name for fk in table.foreign_keys if fk.column.table is table), None)
    if parent is None:
        return [rows] if rows else []
    done: set[Any] = set()
    waves, left = [], rows
    while left:
        wave = [r for r in left if r[parent] is None or r[parent] in done]
        if not wave:  # a cycle: insert the rest as is and let the database judge
            wave = left
        waves.append(wave)
        done.update(r["id"] for r in wave)
        left = [r for r in left if r["id"] not in done]
    return waves
