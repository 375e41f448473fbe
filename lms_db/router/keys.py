"""Keyspaces, shard keys and the tables of each keyspace, read from the models.

The models tag every table with ``info["keyspace"]`` and, when sharded, ``info["shard_key"]``
(or ``info["shard_via"]`` for a table that follows its parent).  This module turns those tags
into the lookups the Router, the id windows and the sample loader need, and validates the
keys a caller hands in.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from lms_db.errors import InputError, UnknownObjectError
from lms_db.models import metadata
from lms_db.topology.spec import SHARDED_KEYSPACES

log = logging.getLogger(__name__)

#: Keyspaces whose tables hold a full copy on every shard.
GLOBAL_KEYSPACE = "global"
#: The keyspace of the analytics database.
ANALYTICS_KEYSPACE = "analytics"
#: Keyspaces a Router can scatter over.
ROUTED_KEYSPACES = (*SHARDED_KEYSPACES, GLOBAL_KEYSPACE)
#: Largest key a range may hold (``BIGINT`` signed: what every dialect stores).
MAX_KEY = 2**63 - 1


def check_keyspace(keyspace: str, *, allow_global: bool = False) -> str:
    """``keyspace`` if it is a range-sharded keyspace (or ``global`` when allowed).

    :param keyspace: the name given by the caller.
    :param allow_global: accept ``global`` (scatter over every shard).
    :raises UnknownObjectError: any other name, with the names that exist.
    """
    allowed = ROUTED_KEYSPACES if allow_global else SHARDED_KEYSPACES
    if keyspace in allowed:
        return keyspace
    if keyspace == GLOBAL_KEYSPACE:
        raise UnknownObjectError(
            "keyspace 'global' is copied to every shard, so no key routes to one shard: "
            "use Router.scatter('global', ...) or Router.engine_for_shard(name)"
        )
    if keyspace == ANALYTICS_KEYSPACE:
        raise UnknownObjectError(
            "keyspace 'analytics' lives on the analytics database: use Router.analytics_engine()"
        )
    raise UnknownObjectError(f"unknown keyspace {keyspace!r}: choose {' or '.join(allowed)}")


def parse_key(key: object) -> int:
    """A shard key as an ``int``: an integer, or a string of decimal digits.

    :param key: what the caller passed (``1234`` or ``"1234"``).
    :raises InputError: not an integer, negative, or larger than a ``BIGINT``.
    """
    if isinstance(key, bool):
        raise InputError(f"key must be a non-negative integer, not {key!r}")
    if isinstance(key, int):
        value = key
    elif isinstance(key, str) and key.strip().isdigit() and key.strip().isascii():
        value = int(key.strip())
    elif isinstance(key, str) and key.strip().lstrip("-").isdigit():
        raise InputError(f"key must be a non-negative integer, not {key.strip()}")
    else:
        raise InputError(f"key must be a non-negative integer, not {key!r}")
    if value < 0:
        raise InputError(f"key must be a non-negative integer, not {value}")
    if value > MAX_KEY:
        raise InputError(f"key {value} is larger than the largest shard key {MAX_KEY}")
    return value


def keyspace_tables(keyspace: str) -> list[sa.Table]:
    """Tables of ``keyspace`` in dependency order (parents first), views excluded.

    :param keyspace: ``user``, ``course`` or ``global``.
    """
    return [
        t
        for t in metadata.sorted_tables
        if t.info.get("keyspace") == keyspace and not t.info.get("is_view")
    ]


def id_column(table: sa.Table) -> sa.Column[int] | None:
    """The auto-increment integer primary key of ``table``, or ``None`` when it has none.

    :param table: a model table.
    """
    pk = list(table.primary_key.columns)
    if len(pk) != 1:
        return None
    column = pk[0]
    if column.autoincrement is not True:
        return None
    try:
        python_type = column.type.python_type
    except NotImplementedError:  # pragma: no cover - every model type has one
        return None
    return column if python_type is int else None


def id_tables() -> list[sa.Table]:
    """Sharded tables whose ids come from per-shard id windows, in dependency order.

    Global tables are left out: their rows are identical copies on every shard, written with
    the same ids everywhere.
    """
    return [
        t
        for t in metadata.sorted_tables
        if t.info.get("keyspace") in SHARDED_KEYSPACES
        and not t.info.get("is_view")
        and id_column(t) is not None
    ]


def key_table(table: sa.Table) -> str | None:
    """The keyspace whose key *is* this table's id (``users`` -> ``user``), else ``None``.

    :param table: a model table.
    """
    column = id_column(table)
    if column is None or table.info.get("shard_key") != column.name:
        return None
    keyspace = table.info.get("keyspace")
    return keyspace if keyspace in SHARDED_KEYSPACES else None
