"""Declarative base, naming conventions and the column helpers every model module uses.

Every table carries ``info["keyspace"]`` (``user``, ``course``, ``global`` or ``analytics``)
and, when sharded, ``info["shard_key"]``: the column whose value places a row on a shard.
References that cross keyspaces cannot be foreign keys (the rows live on other servers);
they are declared with :func:`logical_ref` and checked by ``lmsdb check refs``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, MappedColumn, mapped_column

from lms_db.dialects.facts import MYSQL_FAMILY
from lms_db.models.types import Timestamp

KEYSPACES = ("user", "course", "global", "analytics")

#: Names every constraint so that a migration drops ``fk_...`` by the same name on every shard.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Table options the seed gives every InnoDB table.
MYSQL_TABLE_OPTIONS: dict[str, str] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mariadb_engine": "InnoDB",
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_unicode_ci",
}


class Base(DeclarativeBase):
    """Base of the OLTP models (``lms_db.metadata``)."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class AnalyticsBase(DeclarativeBase):
    """Base of the analytics models (``lms_db.analytics_metadata``)."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def table_options(
    *,
    keyspace: str,
    shard_key: str | None = None,
    redundant_seed_indexes: dict[str, str] | None = None,
    **info: Any,
) -> dict[str, Any]:
    """Table keyword options: InnoDB options and ``info`` with the keyspace tag.

    :param keyspace: one of :data:`KEYSPACES`.
    :param shard_key: the column that places a row on a shard (sharded keyspaces).
    :param redundant_seed_indexes: seed index name -> why it is not created (the index
        that already serves it); kept so the schema reference and decisions can list them.
    :param info: further ``Table.info`` entries (``partition``, ...).
    """
    if keyspace not in KEYSPACES:
        raise ValueError(f"unknown keyspace {keyspace!r}")  # programming error, not input
    table_info = {"keyspace": keyspace, "shard_key": shard_key, **info}
    table_info["redundant_seed_indexes"] = dict(redundant_seed_indexes or {})
    return {**MYSQL_TABLE_OPTIONS, "info": table_info}


def table_args(*items: Any, **options: Any) -> tuple[Any, ...]:
    """``__table_args__``: constraints/indexes, then :func:`table_options`."""
    return (*items, table_options(**options))


def logical_ref(target: str, on_delete: str | None = None) -> dict[str, Any]:
    """``Column.info`` for a reference that crosses keyspaces (no FK; checked by lint/refs).

    :param target: ``table.column`` referred to.
    :param on_delete: what the seed's FK said (``CASCADE``...), enforced by the application.
    """
    return {"logical_ref": target, "on_delete": on_delete}


def pii(kind: str) -> dict[str, Any]:
    """``Column.info`` for personal data (``email``, ``phone``, ``birth_date``, ``ip``,
    ``token``): ``lmsdb archive`` refuses to store such a table unencrypted."""
    return {"pii": kind}


def created_at() -> MappedColumn[Any]:
    """``created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP``."""
    return mapped_column(Timestamp, nullable=True, server_default=sa.text("CURRENT_TIMESTAMP"))


def updated_at() -> MappedColumn[Any]:
    """``updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP``.

    MySQL renders the ``ON UPDATE`` clause; PostgreSQL and SQLite get a trigger (lms_db.schema.ddl).
    """
    return mapped_column(
        Timestamp,
        nullable=True,
        server_default=sa.text("CURRENT_TIMESTAMP"),
        server_onupdate=sa.FetchedValue(),
        info={"on_update_now": True},
    )


def timestamp_null(**kwargs: Any) -> MappedColumn[Any]:
    """``<col> TIMESTAMP NULL`` (no default)."""
    return mapped_column(Timestamp, nullable=True, **kwargs)


def fulltext_index(name: str, table: str, *columns: str) -> list[sa.Index]:
    """A FULLTEXT index on MySQL/MariaDB and its GIN ``tsvector`` twin on PostgreSQL.

    SQLite gets neither (FTS5 is a separate virtual table, out of scope).

    :param name: index name (MySQL); the PostgreSQL one is ``<name>_tsv``.
    :param table: the table's name.
    :param columns: the indexed text columns.
    """
    document = " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)
    mysql_index = sa.Index(
        name,
        *columns,
        mysql_prefix="FULLTEXT",
        mariadb_prefix="FULLTEXT",
        info={"fulltext": True, "table": table},
    ).ddl_if(dialect=MYSQL_FAMILY)  # type: ignore[arg-type]  # tuples are accepted
    pg_index = sa.Index(
        f"{name}_tsv",
        sa.text(f"to_tsvector('simple', {document})"),
        postgresql_using="gin",
        info={"fulltext": True, "table": table, "columns": columns},
    ).ddl_if(dialect="postgresql")
    return [mysql_index, pg_index]
