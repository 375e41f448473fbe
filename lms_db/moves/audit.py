"""``lmsdb shard verify`` with no range: audit the whole fleet against the shard map.

For every shard and every table of the ``user`` and ``course`` keyspaces, the shard itself
counts the rows whose key lies outside every range the map gives it (rows left behind by an
interrupted move, written by a client with a stale map, or restored to the wrong server).
The work stays on the servers: one aggregate query per table (count, smallest and largest
misplaced key) and one ``LIMIT``-ed query for a sample of keys, so memory does not grow with
the fleet.  ``shard_via`` tables (``module_lessons`` follow their module) are placed through
their parents; a row whose parent is missing on the same shard is an *orphan*, reported too.
Rows whose key is NULL (``audit_logs`` of system events) belong to no range and are not
counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.catalog import ShardMap
from lms_db.errors import LmsDbError
from lms_db.moves.range_verify import shard_connection
from lms_db.moves.scope import TableScope, keyspace_scopes
from lms_db.router.keys import check_keyspace
from lms_db.router.router import Router
from lms_db.topology.spec import SHARDED_KEYSPACES

log = logging.getLogger(__name__)

#: Misplaced keys listed per shard and table.
DEFAULT_SAMPLE = 5


@dataclass(frozen=True)
class MisplacedKey:
    """One sampled misplaced row: its primary key, its shard key and who owns that key.

    :param pk: the row's primary key.
    :param key: its shard key.
    :param owner: the shard the map gives the key to (``None``: no shard serves it).
    """

    pk: Any
    key: int
    owner: str | None


@dataclass(frozen=True)
class Misplaced:
    """Rows of one table on one shard that the map places elsewhere.

    :param shard: the shard holding them.
    :param keyspace: the table's keyspace.
    :param table: the table.
    :param rows: how many.
    :param min_key: the smallest of their keys.
    :param max_key: the largest.
    :param sample: up to ``sample`` of them, by primary key.
    :param orphans: rows of a ``shard_via`` table whose parent is not on this shard.
    """

    shard: str
    keyspace: str
    table: str
    rows: int
    min_key: int | None
    max_key: int | None
    sample: tuple[MisplacedKey, ...]
    orphans: int = 0

    def describe(self) -> str:
        """One line: shard, table, count, key span, sampled keys and their owners."""
        parts = []
        if self.rows:
            keys = ", ".join(f"{k.key} (owner {k.owner or 'none'})" for k in self.sample)
            parts.append(
                f"{self.rows} rows whose {self.keyspace} key it does not own "
                f"(keys {self.min_key}..{self.max_key}; e.g. {keys})"
            )
        if self.orphans:
            parts.append(f"{self.orphans} rows whose parent row is not on this shard")
        return f"{self.shard} {self.table}: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "shard": self.shard,
            "keyspace": self.keyspace,
            "table": self.table,
            "rows": self.rows,
            "min_key": self.min_key,
            "max_key": self.max_key,
            "orphans": self.orphans,
            "sample": [{"pk": k.pk, "key": k.key, "owner": k.owner} for k in self.sample],
        }


@dataclass(frozen=True)
class FleetAudit:
    """What the audit found, at one map version.

    :param map_version: the map the fleet was checked against.
    :param keyspaces: the keyspaces audited.
    :param shards: the shards audited.
    :param findings: misplaced (or orphaned) rows, by shard then table.
    :param tables_checked: (shard, table) pairs counted.
    """

    map_version: int
    keyspaces: tuple[str, ...]
    shards: tuple[str, ...]
    findings: tuple[Misplaced, ...]
    tables_checked: int

    @property
    def clean(self) -> bool:
        """Every row lives on the shard owning its key."""
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "map_version": self.map_version,
            "keyspaces": list(self.keyspaces),
            "shards": list(self.shards),
            "clean": self.clean,
            "tables_checked": self.tables_checked,
            "misplaced_rows": sum(f.rows for f in self.findings),
            "orphan_rows": sum(f.orphans for f in self.findings),
            "findings": [f.to_dict() for f in self.findings],
        }


def audit_fleet(
    router: Router, *, keyspace: str | None = None, sample: int = DEFAULT_SAMPLE
) -> FleetAudit:
    """Find rows living on a shard that does not own their key, on every shard.

    :param router: the Router.
    :param keyspace: only this keyspace (default: ``user`` and ``course``).
    :param sample: misplaced keys to list per shard and table (0: none).
    :raises UnknownObjectError: unknown keyspace.
    :raises ConnectionFailed: a shard cannot be reached (checked before any work).
    :raises OperationError: a shard failed during the audit.
    """
    keyspaces = (check_keyspace(keyspace),) if keyspace else SHARDED_KEYSPACES
    sample = max(0, sample)
    shard_map = router.refresh()
    shards = router.shards()
    for name in shards:
        with shard_connection(router, name):
            pass  # an unreachable shard fails here, before any work
    findings: list[Misplaced] = []
    checked = 0
    for name in shards:
        with shard_connection(router, name) as conn:
            existing = set(sa.inspect(conn).get_table_names())
            for ks in keyspaces:
                owned = [(r.lo, r.hi) for r in shard_map.for_keyspace(ks) if r.shard == name]
                for scope in keyspace_scopes(ks):
                    if not {scope.name, *(h.parent.name for h in scope.hops)} <= existing:
                        continue
                    checked += 1
                    found = _audit_table(conn, name, scope, owned, shard_map, sample)
                    if found is not None:
                        findings.append(found)
    return FleetAudit(shard_map.version, tuple(keyspaces), shards, tuple(findings), checked)


def _keyed(scope: TableScope) -> tuple[sa.Select[Any], sa.ColumnElement[Any]]:
    """``SELECT ... FROM table JOIN parents...`` and the key column it exposes."""
    tables: list[sa.Table] = [scope.table] + [hop.parent for hop in scope.hops]
    joined: sa.FromClause = scope.table
    for index, hop in enumerate(scope.hops):
        joined = joined.join(
            hop.parent, tables[index].c[hop.child_column] == hop.parent.c[hop.parent_column]
        )
    return sa.select().select_from(joined), scope.key_table.c[scope.key_column]


def _audit_table(
    conn: Connection,
    shard: str,
    scope: TableScope,
    owned: list[tuple[int, int]],
    shard_map: ShardMap,
    sample: int,
) -> Misplaced | None:
    base, key = _keyed(scope)
    inside = sa.or_(sa.false(), *(sa.and_(key >= lo, key < hi) for lo, hi in owned))
    outside = sa.and_(key.is_not(None), sa.not_(inside))
    rows, min_key, max_key = conn.execute(
        base.add_columns(sa.func.count(), sa.func.min(key), sa.func.max(key)).where(outside)
    ).one()
    orphans = 0
    if scope.hops:
        total = conn.execute(sa.select(sa.func.count()).select_from(scope.table)).scalar_one()
        joined = conn.execute(base.add_columns(sa.func.count())).scalar_one()
        orphans = int(total) - int(joined)
    if not rows and not orphans:
        return None
    keys: tuple[MisplacedKey, ...] = ()
    if rows and sample:
        picked = conn.execute(
            base.add_columns(scope.pk, key).where(outside).order_by(scope.pk).limit(sample)
        ).all()
        keys = tuple(
            MisplacedKey(pk, int(k), _owner(shard_map, scope.keyspace, int(k))) for pk, k in picked
        )
    log.info("%s %s: %d misplaced rows, %d orphans", shard, scope.name, rows, orphans)
    return Misplaced(
        shard,
        scope.keyspace,
        scope.name,
        int(rows),
        None if min_key is None else int(min_key),
        None if max_key is None else int(max_key),
        keys,
        orphans,
    )


def _owner(shard_map: ShardMap, keyspace: str, key: int) -> str | None:
    try:
        return shard_map.find(keyspace, key).shard
    except LmsDbError:
        return None
