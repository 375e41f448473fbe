"""Which rows of each table belong to a key range ``[lo, hi)`` of a keyspace.

A range move, a range verify and the fleet audit all ask the same question: for a keyspace
(``user`` or ``course``) and a key range, which rows of every table of that keyspace go with
it?  The models answer it with their tags:

- ``info["shard_key"]``: the table holds its key in a column (``enrollments.user_id``,
  ``users.id``): the row belongs to the range when ``lo <= column < hi``;
- ``info["shard_via"] = (column, "parent.column")``: the table has no key column and follows
  its parent (``module_lessons.module_id -> course_modules.id``): the row belongs to the range
  when its parent row does.  Chains of parents are followed to the table holding the key.

:func:`keyspace_scopes` gives one :class:`TableScope` per table, parents first (the order the
foreign keys accept for inserts; :func:`delete_order` reverses it for deletes).  Every
predicate is a SQLAlchemy expression, so the same scope renders on MariaDB/MySQL, PostgreSQL
and SQLite.

Example::

    for scope in keyspace_scopes("user"):
        rows = conn.execute(scope.select_range(0, 1_000)).all()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lms_db.errors import InputError
from lms_db.models import metadata
from lms_db.router.keys import check_keyspace, keyspace_tables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViaHop:
    """One step from a table to its parent: ``child_column`` refers to ``parent.parent_column``.

    :param child_column: the column of the table that refers to the parent.
    :param parent: the parent table.
    :param parent_column: the parent's column referred to (its primary key).
    """

    child_column: str
    parent: sa.Table
    parent_column: str


@dataclass(frozen=True)
class TableScope:
    """How the rows of one table map to keys of its keyspace.

    :param table: the table.
    :param keyspace: ``user`` or ``course``.
    :param hops: parents to walk to reach the key (empty: the key is a column of ``table``).
    :param key_column: the key column, on ``table`` (no hops) or on the last hop's parent.
    """

    table: sa.Table
    keyspace: str
    hops: tuple[ViaHop, ...]
    key_column: str

    @property
    def name(self) -> str:
        """The table's name."""
        return self.table.name

    @property
    def pk(self) -> sa.Column[Any]:
        """The table's single-column primary key (chunks and changelog rows use it)."""
        return single_pk(self.table)

    @property
    def key_table(self) -> sa.Table:
        """The table holding the key column (``table`` itself when there are no hops)."""
        return self.hops[-1].parent if self.hops else self.table

    @property
    def direct(self) -> bool:
        """Whether the key is a column of the table itself."""
        return not self.hops

    def in_range(self, lo: int, hi: int) -> sa.ColumnElement[bool]:
        """``WHERE`` condition on ``table``: the row belongs to keys ``[lo, hi)``.

        Via tables get ``child_column IN (SELECT parent.id FROM parent WHERE ...)``, nested
        once per hop; every hop's parent column is its primary key, so the subquery is an
        index lookup on the parent.

        :param lo: first key of the range.
        :param hi: first key after the range.
        """
        key = self.key_table.c[self.key_column]
        condition: sa.ColumnElement[bool] = sa.and_(key >= lo, key < hi)
        # Walk from the key table back down to this table.
        for index in range(len(self.hops) - 1, -1, -1):
            hop = self.hops[index]
            parent_select = sa.select(hop.parent.c[hop.parent_column]).where(condition)
            child = self.hops[index - 1].parent if index > 0 else self.table
            condition = child.c[hop.child_column].in_(parent_select)
        return condition

    def select_range(self, lo: int, hi: int) -> sa.Select[Any]:
        """Every column of the rows of ``[lo, hi)``, in primary-key order.

        :param lo: first key of the range.
        :param hi: first key after the range.
        """
        return sa.select(self.table).where(self.in_range(lo, hi)).order_by(self.pk)

    def select_range_pks(self, lo: int, hi: int) -> sa.Select[Any]:
        """The primary keys of the rows of ``[lo, hi)``, in order.

        :param lo: first key of the range.
        :param hi: first key after the range.
        """
        return sa.select(self.pk).where(self.in_range(lo, hi)).order_by(self.pk)

    def key_of(self, row_pk: Any) -> sa.Select[Any]:
        """The key of the row whose primary key is ``row_pk`` (no row: no result).

        :param row_pk: a primary-key value of ``table``.
        """
        tables: list[sa.Table] = [self.table] + [hop.parent for hop in self.hops]
        query = sa.select(self.key_table.c[self.key_column]).select_from(self.table)
        for index, hop in enumerate(self.hops):
            query = query.join(
                hop.parent, tables[index].c[hop.child_column] == hop.parent.c[hop.parent_column]
            )
        return query.where(self.pk == row_pk)


def single_pk(table: sa.Table) -> sa.Column[Any]:
    """The one primary-key column of ``table``.

    :raises InputError: the table's primary key has several columns or none.
    """
    columns = list(table.primary_key.columns)
    if len(columns) != 1:
        raise InputError(
            f"table {table.name} has a {len(columns)}-column primary key; range moves need one"
        )
    return columns[0]


def table_scope(table: sa.Table) -> TableScope:
    """The scope of one sharded table.

    :param table: a table of the ``user`` or ``course`` keyspace.
    :raises InputError: the table is not range-sharded, or its ``shard_via`` chain is broken.
    """
    keyspace = str(table.info.get("keyspace"))
    hops: list[ViaHop] = []
    current = table
    seen = {table.name}
    while current.info.get("shard_key") is None:
        via = current.info.get("shard_via")
        if not via:
            raise InputError(f"table {current.name} has neither shard_key nor shard_via")
        child_column, target = via
        parent_name, _, parent_column = str(target).partition(".")
        parent = metadata.tables.get(parent_name)
        if parent is None or parent_name in seen or parent_column not in parent.c:
            raise InputError(f"table {current.name}: shard_via {target!r} is not a table.column")
        if parent.info.get("keyspace") != keyspace:
            raise InputError(
                f"table {current.name}: shard_via {target!r} leaves keyspace {keyspace}"
            )
        hops.append(
            ViaHop(child_column=str(child_column), parent=parent, parent_column=parent_column)
        )
        seen.add(parent_name)
        current = parent
    return TableScope(
        table=table, keyspace=keyspace, hops=tuple(hops), key_column=str(current.info["shard_key"])
    )


def keyspace_scopes(keyspace: str) -> list[TableScope]:
    """Every table of a range-sharded keyspace, parents first (the insert order).

    :param keyspace: ``user`` or ``course``.
    :raises UnknownObjectError: not a range-sharded keyspace.
    """
    check_keyspace(keyspace)
    return [table_scope(t) for t in keyspace_tables(keyspace)]


def insert_order(keyspace: str) -> list[TableScope]:
    """The keyspace's tables in an order foreign keys accept for inserts (parents first).

    :param keyspace: ``user`` or ``course``.
    """
    return keyspace_scopes(keyspace)


def delete_order(keyspace: str) -> list[TableScope]:
    """The keyspace's tables in an order foreign keys accept for deletes (children first).

    :param keyspace: ``user`` or ``course``.
    """
    return list(reversed(keyspace_scopes(keyspace)))
