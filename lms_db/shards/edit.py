"""``set_shard`` and ``remove_shard``: fix a shard registered by mistake, checked like ``add``.

``set_shard`` points a shard at another primary and/or other replicas (a shard that moved to
a new server, a writable database given as ``--replica``); ``remove_shard`` unregisters a
shard that owns no key range and holds no rows (rows only with ``force``).  Both check
everything before writing (the same checks as :func:`lms_db.shards.add.add_shard` and
``migrate up``: URL rule, reachability, replica role, identity row), are journaled like
``shard add`` and bump the map version so every Router re-reads where shards are.

A removed shard keeps its catalog row with state ``removed`` (and its id windows), so its
ids are never granted again and its name is not reused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lms_db.catalog import bump_map_version, close_journal_entry, open_journal_entry
from lms_db.catalog import shards as catalog_shards
from lms_db.catalog.identity import (
    check_identity,
    read_fleet_id,
    read_identity_of,
    stamp_identities,
)
from lms_db.catalog.schema import (
    begin,
    read_catalog_version,
    shard_ranges,
    upgrade_if_needed,
)
from lms_db.errors import ConnectionFailed, InputError, UnknownObjectError
from lms_db.migrate.replication import check_replica_role
from lms_db.router.keys import ROUTED_KEYSPACES, keyspace_tables
from lms_db.router.pool import REMOVED_SHARD_STATE, ShardLocation, read_locations
from lms_db.topology.engines import connect_check, engine_for, short_reason
from lms_db.topology.spec import Topology
from lms_db.topology.urls import DatabaseRef, database_ref

log = logging.getLogger(__name__)

#: Journal operations of the two commands.
SHARD_SET_OPERATION = "shard-set"
SHARD_REMOVE_OPERATION = "shard-remove"
#: The state a removed shard's catalog row keeps.
REMOVED_STATE = REMOVED_SHARD_STATE


@dataclass(frozen=True)
class ShardChange:
    """What ``set_shard``/``remove_shard`` did (or would do, with ``dry_run``).

    :param name: the shard.
    :param action: ``set`` or ``remove``.
    :param primary: its primary afterwards (masked URL).
    :param replicas: its replicas afterwards (masked URLs).
    :param dry_run: nothing was changed.
    :param map_version: the map version announcing the change (0: dry run).
    :param rows: rows the shard holds (``remove``; ``None``: not counted).
    :param notes: what the user still has to do (edit the topology file...).
    """

    name: str
    action: str
    primary: str
    replicas: tuple[str, ...]
    dry_run: bool
    map_version: int = 0
    rows: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "action": self.action,
            "primary": self.primary,
            "replicas": list(self.replicas),
            "dry_run": self.dry_run,
            "map_version": self.map_version,
            "rows": self.rows,
            "notes": list(self.notes),
        }


def set_shard(
    topology: Topology,
    name: str,
    *,
    primary: str | None = None,
    replicas: Sequence[str] | None = None,
    connect_timeout: float = 5.0,
    dry_run: bool = False,
) -> ShardChange:
    """Point shard ``name`` at another primary and/or other replicas.

    :param topology: the loaded topology.
    :param name: a shard the catalog knows.
    :param primary: the new primary's URL (``None``: unchanged).
    :param replicas: the new replicas' URLs (``None``: unchanged; empty: no replicas).
    :param connect_timeout: seconds each connection may take.
    :param dry_run: run every check, change nothing.
    :raises InputError: nothing to change, unknown shard, a URL that breaks the rule or is
        another database's, an unreachable server, a writable "replica", a primary that is
        another shard's (identity row).  Nothing was changed.
    :raises CatalogError: the catalog failed.
    """
    if primary is None and replicas is None:
        raise InputError("shard set: give --primary URL, --replica URL or --no-replicas")
    new_primary = database_ref(primary, field="--primary") if primary is not None else None
    new_replicas = (
        None
        if replicas is None
        else [database_ref(r, field=f"--replica[{i}]") for i, r in enumerate(replicas)]
    )
    catalog = _open_catalog(topology, connect_timeout)
    try:
        locations, current = _known(catalog, topology, name)
        spec = next((s for s in topology.shards if s.name == name), None)
        if spec is not None and replicas is not None:
            raise InputError(
                f"{name}'s replicas come from {topology.path} "
                f"({spec.primary.field.split('.')[0]}.replicas): edit it there"
            )
        _check_unused(
            topology,
            locations,
            name,
            [r for r in (new_primary, *(new_replicas or [])) if r is not None],
        )
        for ref in (new_primary, *(new_replicas or [])):
            if ref is not None:
                connect_check(ref, connect_timeout)
        for ref in new_replicas or []:
            check_replica_role(ref, timeout=connect_timeout)
        if new_primary is not None:
            with begin(catalog) as conn:
                fleet_id = read_fleet_id(conn)
            check_identity(
                read_identity_of(new_primary, timeout=connect_timeout), fleet_id, name, new_primary
            )
        if new_primary is not None:
            primary_ref = new_primary
        elif current is not None:
            primary_ref = current.primary
        else:
            raise InputError(f"{name}'s stored primary URL is unusable: give --primary URL")
        replica_refs = tuple(
            new_replicas
            if new_replicas is not None
            else current.replicas
            if current is not None
            else ()
        )
        notes: tuple[str, ...] = ()
        if (
            spec is not None
            and new_primary is not None
            and (spec.primary.location != new_primary.location)
        ):
            notes = (
                f"edit {topology.path}: {spec.primary.field} = the same URL; until then "
                "lmsdb refuses the topology for this shard",
            )
        shown = (primary_ref.display, tuple(r.display for r in replica_refs))
        if dry_run:
            return ShardChange(name, "set", shown[0], shown[1], dry_run=True, notes=notes)
        values: dict[str, Any] = {}
        payload: dict[str, Any] = {}
        if new_primary is not None:
            values["primary_url_template"] = payload["primary"] = new_primary.template
        if new_replicas is not None:
            payload["replicas"] = [r.template for r in new_replicas]
            values["replica_url_templates"] = json.dumps(payload["replicas"])
        entry = open_journal_entry(
            catalog, operation=SHARD_SET_OPERATION, step="update", shard=name, payload=payload
        )
        with begin(catalog) as conn:
            conn.execute(
                catalog_shards.update().where(catalog_shards.c.name == name).values(**values)
            )
            version = bump_map_version(conn)
            close_journal_entry(conn, entry, step="updated")
        if new_primary is not None:
            stamp_identities(catalog, [(name, new_primary)], timeout=connect_timeout)
    finally:
        catalog.dispose()
    log.info("shard %s now at %s", name, shown[0])
    return ShardChange(
        name, "set", shown[0], shown[1], dry_run=False, map_version=version, notes=notes
    )


def remove_shard(
    topology: Topology,
    name: str,
    *,
    force: bool = False,
    connect_timeout: float = 5.0,
    dry_run: bool = False,
) -> ShardChange:
    """Unregister shard ``name``: it must own no key range and hold no rows.

    :param topology: the loaded topology (it must no longer list the shard).
    :param name: a shard the catalog knows.
    :param force: remove it even though it holds rows, or its primary cannot be reached to
        count them (its databases are left as they are: nothing is deleted there).
    :param connect_timeout: seconds each connection may take.
    :param dry_run: run every check, change nothing.
    :raises InputError: unknown shard, a shard the topology lists or that owns a range, rows
        on it (without ``force``).  Nothing was changed.
    :raises CatalogError: the catalog failed.
    """
    catalog = _open_catalog(topology, connect_timeout)
    try:
        if name in topology.shard_names:
            raise InputError(
                f"{name} is listed in {topology.path}: remove it from the file "
                "first, then run shard remove"
            )
        _, current = _known(catalog, topology, name)
        with begin(catalog) as conn:
            owned = conn.execute(
                sa.select(shard_ranges.c.keyspace, shard_ranges.c.lo, shard_ranges.c.hi)
                .where(shard_ranges.c.shard == name)
                .order_by(shard_ranges.c.keyspace, shard_ranges.c.lo)
            ).all()
        if owned:
            spans = ", ".join(f"{k} [{lo:,}, {hi:,})" for k, lo, hi in owned)
            raise InputError(
                f"{name} owns key ranges ({spans}): move them to another shard before removing it"
            )
        rows: int | None = None
        shown: tuple[str, tuple[str, ...]] = ("(unusable URL)", ())
        if current is None and not force:
            raise InputError(
                f"{name}'s stored URL is unusable, so its rows cannot be counted: "
                "pass --force to unregister it anyway"
            )
        if current is not None:
            rows = _count_rows(current.primary, connect_timeout, force=force)
            if rows and not force:
                raise InputError(
                    f"{name} holds {rows:,} rows on {current.primary.display}: "
                    "move or archive them first, or pass --force to unregister "
                    "it anyway (its database is left as it is)"
                )
            shown = (current.primary.display, tuple(r.display for r in current.replicas))
        if dry_run:
            return ShardChange(name, "remove", shown[0], shown[1], dry_run=True, rows=rows)
        entry = open_journal_entry(
            catalog,
            operation=SHARD_REMOVE_OPERATION,
            step="remove",
            shard=name,
            payload={"rows": rows, "force": force},
        )
        with begin(catalog) as conn:
            conn.execute(
                catalog_shards.update()
                .where(catalog_shards.c.name == name)
                .values(state=REMOVED_STATE)
            )
            version = bump_map_version(conn)
            close_journal_entry(conn, entry, step="removed")
    finally:
        catalog.dispose()
    log.info("shard %s removed from the catalog", name)
    return ShardChange(
        name, "remove", shown[0], shown[1], dry_run=False, map_version=version, rows=rows
    )


def _open_catalog(topology: Topology, timeout: float) -> Engine:
    """The catalog, upgraded if older; a catalog that does not exist knows no shard."""
    ref = topology.catalog
    database = ref.url.database or ""
    if ref.dialect == "sqlite" and database and not Path(database).exists():
        raise UnknownObjectError(
            f"catalog {ref.display} does not exist yet: it knows no "
            "shard (run lmsdb migrate up first)"
        )
    connect_check(ref, timeout)
    catalog = engine_for(ref, timeout=timeout)
    try:
        if read_catalog_version(catalog) is None:
            raise UnknownObjectError(
                f"catalog {ref.display} has no tables yet: it knows no "
                "shard (run lmsdb migrate up first)"
            )
        upgrade_if_needed(catalog)
    except BaseException:
        catalog.dispose()
        raise
    return catalog


def _known(
    catalog: Engine, topology: Topology, name: str
) -> tuple[dict[str, ShardLocation], ShardLocation | None]:
    with begin(catalog) as conn:
        # The shard's own location is what `shard set` is about to fix: not checked.
        locations = read_locations(conn, topology, unchecked=(name,))
        registered = conn.execute(
            sa.select(catalog_shards.c.state).where(catalog_shards.c.name == name)
        ).scalar()
    if registered is None or registered == REMOVED_STATE:
        known = ", ".join(sorted(locations)) or "none"
        raise UnknownObjectError(f"unknown shard {name!r} in the catalog (known: {known})")
    return locations, locations.get(name)  # None: its stored URL is unusable


def _check_unused(
    topology: Topology, locations: dict[str, Any], name: str, refs: Sequence[DatabaseRef]
) -> None:
    used: dict[tuple[object, ...], str] = {topology.catalog.location: "the catalog"}
    if topology.analytics is not None:
        used[topology.analytics.location] = "the analytics database"
    for location in locations.values():
        if location.name == name:
            continue
        used[location.primary.location] = f"the primary of {location.name}"
        for ref in location.replicas:
            used[ref.location] = f"a replica of {location.name}"
    seen: set[tuple[object, ...]] = set()
    for ref in refs:
        if ref.location in used:
            raise InputError(f"{ref.field}: {ref.display} is already {used[ref.location]}")
        if ref.location in seen:
            raise InputError(f"{ref.field}: {ref.display} is given twice")
        seen.add(ref.location)


def _count_rows(ref: DatabaseRef, timeout: float, *, force: bool) -> int | None:
    """Rows of the routed keyspaces on ``ref`` (global tables are copies: not counted)."""
    engine = engine_for(ref, timeout=timeout, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
            return sum(
                int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for k in ROUTED_KEYSPACES
                for t in keyspace_tables(k)
                if t.name in present
            )
    except sa.exc.DBAPIError as exc:
        if force:
            return None
        raise ConnectionFailed(
            f"cannot count the rows on {ref.display}: "
            f"{short_reason(exc, ref.url.password)}; pass --force to "
            "unregister it without counting"
        ) from exc
    finally:
        engine.dispose()
