"""What is archived with what, and how rows are read and written with their exact values.

A table names, in the models, the tables archived with it (``info["archive"]["with"]``:
children whose foreign key cascades from it, so deleting the parent would delete them) and
the tables that keep a parent in place (``info["archive"]["skip_if"]``: children without a
cascade, which must outlive it).  :func:`archive_group` refuses a table that some other
table references without such a declaration: a cascade must never delete an unarchived row,
and a non-cascading child must never make the delete fail halfway through a run.

Rows are read and written with the driver's own conversions (see
:mod:`~lms_db.archive.codec`): every column is selected as a bare value, JSON as its text
and MySQL ``FLOAT`` widened to ``DOUBLE`` (its exact value; the text protocol would round
it to 6 digits).  Sessions run in UTC so a TIMESTAMP reads and writes the same instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from lms_db.archive.errors import ArchiveRefused
from lms_db.errors import UnknownObjectError
from lms_db.fleet.raw_columns import is_json, read_columns
from lms_db.models import Base
from lms_db.moves.checksum import UTC_SESSION


@dataclass(frozen=True)
class Child:
    """A table archived with (or blocking) its parent, through ``column`` -> parent pk."""

    table: sa.Table
    column: str


@dataclass(frozen=True)
class ArchiveGroup:
    """A parent table, the children that travel with it and those that keep it in place.

    :param parent: the table named on the command line.
    :param children: archived in the same object, deleted before the parent.
    :param blockers: a parent row with rows here is skipped (not archived).
    """

    parent: sa.Table
    children: tuple[Child, ...]
    blockers: tuple[Child, ...]

    @property
    def pk(self) -> str:
        return str(next(iter(self.parent.primary_key.columns)).name)

    @property
    def shard_key(self) -> str | None:
        key = self.parent.info.get("shard_key")
        return str(key) if key else None

    @property
    def tables(self) -> tuple[sa.Table, ...]:
        """Parent first, then children: the insert order (deletes go the other way)."""
        return (self.parent, *(c.table for c in self.children))

    def pii_columns(self) -> list[str]:
        """``table.column`` of every column declared as personal data."""
        return [f"{t.name}.{c.name}" for t in self.tables for c in t.columns if c.info.get("pii")]


def model_table(name: str, metadata: sa.MetaData = Base.metadata) -> sa.Table:
    """The model table ``name``.

    :raises UnknownObjectError: no such table.
    """
    table = metadata.tables.get(name)
    if table is None:
        raise UnknownObjectError(f"unknown table {name!r}")
    return table


def archive_group(name: str, metadata: sa.MetaData = Base.metadata) -> ArchiveGroup:
    """The archive group of table ``name``, checked against every foreign key to it.

    :raises UnknownObjectError: no such table.
    :raises ArchiveRefused: no single-column primary key, or a child table not declared.
    """
    parent = model_table(name, metadata)
    if len(parent.primary_key.columns) != 1:
        raise ArchiveRefused(f"{name}: archiving needs a single-column primary key")
    spec = parent.info.get("archive") or {}
    wanted = tuple(spec.get("with", ()))
    blocking = tuple(spec.get("skip_if", ()))
    children: list[Child] = []
    blockers: list[Child] = []
    for table in metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is not parent or table is parent:
                continue
            column = fk.parent.name
            cascades = (fk.ondelete or "").upper() == "CASCADE"
            if table.name in wanted:
                if not cascades:
                    raise ArchiveRefused(
                        f"{name}: {table.name} is declared as archived with it but its foreign "
                        "key does not cascade; declare it in skip_if instead"
                    )
                children.append(Child(table, column))
            elif table.name in blocking:
                blockers.append(Child(table, column))
            elif cascades:
                raise ArchiveRefused(
                    f"{name}: deleting its rows would cascade to {table.name}.{column}, which "
                    "is not archived with it; lmsdb archives it only with its children"
                )
            else:
                raise ArchiveRefused(
                    f"{name}: {table.name}.{column} references it without a cascade; archiving "
                    "would fail or orphan those rows"
                )
    for child in children:
        nested = [
            t.name
            for t in metadata.sorted_tables
            for fk in t.foreign_keys
            if fk.column.table is child.table and t is not child.table
        ]
        if nested:
            raise ArchiveRefused(
                f"{name}: child {child.table.name} is itself referenced by "
                f"{', '.join(nested)}; nested children are not archived"
            )
    return ArchiveGroup(parent, tuple(children), tuple(blockers))


# -- reading and writing exact values ------------------------------------------------------


def select_rows(table: sa.Table, dialect: str) -> sa.Select[Any]:
    return sa.select(*read_columns(table, dialect))


class _Raw(sa.types.TypeDecorator[Any]):
    """A bound value passed to the driver as is (a bare ``NullType`` parameter would take
    the column's type, and its processing, back)."""

    impl = sa.types.NullType
    cache_ok = True


def insert_statement(table: sa.Table, dialect: str) -> sa.Insert:
    """An INSERT binding every column as a bare value (JSON: its text)."""
    values: dict[str, Any] = {}
    for column in table.columns:
        param: sa.ColumnElement[Any] = sa.bindparam(column.name, type_=_Raw())
        if dialect == "postgresql" and is_json(column):
            param = sa.cast(sa.bindparam(column.name, type_=sa.Text()), postgresql.JSONB)
        values[column.name] = param
    return sa.insert(table).values(values)


def utc_sessions(engine: Engine) -> Engine:
    """Make every new connection of ``engine`` run in UTC (TIMESTAMPs read as stored)."""
    dialect = engine.dialect.name

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        if dialect in ("mysql", "mariadb"):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET time_zone = '+00:00'")
            record.info[UTC_SESSION] = True  # the checksum's own switch is not needed
        elif dialect == "postgresql":
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET TIME ZONE 'UTC'")
            dbapi_connection.commit()

    sa.event.listen(engine, "connect", on_connect)
    return engine


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert_statement(table, conn.dialect.name), list(rows))
