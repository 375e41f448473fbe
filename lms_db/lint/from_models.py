"""Front end: SQLAlchemy metadata -> :class:`~lms_db.lint.schema.Document`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.sql.elements import TextClause, UnaryExpression

from lms_db.lint.schema import (
    ColumnDef,
    Document,
    ForeignKeyDef,
    IndexDef,
    PartitionDef,
    TableDef,
    UniqueKey,
    normalize_type,
)
from lms_db.models.partitions import PartitionSpec

MODEL_LOCATION = "model"
_MYSQL = mysql.dialect()
_MYSQL_NAMES = ("mysql", "mariadb")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def document_from_metadata(metadata: sa.MetaData, apply: Iterable[str] = ()) -> Document:
    """Describe every table of ``metadata`` (views flagged ``info["is_view"]`` are skipped).

    :param metadata: the models' metadata (``lms_db.metadata``).
    :param apply: tables whose declared partition spec counts as applied (as
        ``lmsdb schema sql --partition`` would render it).
    """
    doc = Document()
    forced = set(apply)
    for table in metadata.tables.values():
        if table.info.get("is_view"):
            continue
        doc.tables[table.name] = table_from_model(table, apply_partition=table.name in forced)
    return doc


def table_from_model(table: sa.Table, *, apply_partition: bool = False) -> TableDef:
    """Describe one SQLAlchemy table as MySQL would create it.

    :param apply_partition: treat a declared partition spec as applied.
    """
    tdef = TableDef(name=table.name, keyspace=table.info.get("keyspace"), source=MODEL_LOCATION)
    for col in table.columns:
        tdef.columns[col.name.lower()] = ColumnDef(_mysql_type(col.type), bool(col.nullable))
    tdef.primary_key = tuple(c.name.lower() for c in table.primary_key.columns)
    for cons in table.constraints:
        if isinstance(cons, sa.UniqueConstraint) and _on_mysql(cons):
            cols = tuple(c.name.lower() for c in cons.columns)
            tdef.uniques.append(UniqueKey(_name(cons.name, "uq", table.name, cols), cols))
        elif isinstance(cons, sa.ForeignKeyConstraint) and _on_mysql(cons):
            tdef.foreign_keys.append(_foreign_key(table.name, cons))
    for index in table.indexes:
        idef = _index(table.name, index)
        if idef is not None:
            tdef.indexes.append(idef)
    spec = table.info.get("partition")
    if isinstance(spec, PartitionSpec):
        tdef.partition = PartitionDef(
            kind=spec.kind,
            expression=spec.expression,
            columns=tuple(c.lower() for c in spec.columns),
            applied=spec.applied or apply_partition,
            reason=spec.reason,
            location=MODEL_LOCATION,
        )
    return tdef


def _mysql_type(type_: Any) -> str:
    """The MySQL type name of a column type (``TIMESTAMP``, ``BIGINT``, ``ENUM``...)."""
    try:
        compiled = str(type_.compile(dialect=_MYSQL))
    except Exception:  # a type MySQL cannot render (PostgreSQL-only): keep its class name
        return type(type_).__name__.upper()
    match = _WORD.match(compiled)
    return normalize_type(match.group(0) if match else compiled)


def _on_mysql(element: Any) -> bool:
    """False when ``ddl_if`` restricts the element to dialects other than MySQL/MariaDB."""
    ddl_if = getattr(element, "_ddl_if", None)
    if ddl_if is None or ddl_if.dialect is None:
        return True
    dialects = (ddl_if.dialect,) if isinstance(ddl_if.dialect, str) else ddl_if.dialect
    return any(d in _MYSQL_NAMES for d in dialects)


def _name(name: Any, prefix: str, table: str, cols: tuple[str, ...]) -> str:
    if isinstance(name, str) and name:
        return str(name)
    return f"{prefix}_{table}_{'_'.join(cols)}"


def _foreign_key(table: str, cons: sa.ForeignKeyConstraint) -> ForeignKeyDef:
    cols = tuple(c.lower() for c in cons.column_keys)
    targets = [fk.target_fullname.split(".") for fk in cons.elements]
    ref_table = targets[0][-2] if targets and len(targets[0]) >= 2 else ""
    ref_cols = tuple(t[-1].lower() for t in targets)
    return ForeignKeyDef(
        _name(cons.name, "fk", table, cols), cols, ref_table, ref_cols, MODEL_LOCATION
    )


def _index(table: str, index: sa.Index) -> IndexDef | None:
    """Describe a model index; ``None`` for expression indexes and non-MySQL twins."""
    if not _on_mysql(index) or "columns" in index.info:
        return None
    cols: list[str] = []
    for expr in index.expressions:
        name = _column_name(expr)
        if name is None:
            return None
        cols.append(name.lower())
    prefix = str(index.dialect_options["mysql"].get("prefix") or "").upper()
    kind: Any = "btree"
    if index.info.get("fulltext") or prefix == "FULLTEXT":
        kind = "fulltext"
    elif index.unique:
        kind = "unique"
    return IndexDef(_name(index.name, "ix", table, tuple(cols)), tuple(cols), kind, MODEL_LOCATION)


def _column_name(expr: Any) -> str | None:
    if isinstance(expr, sa.Column):
        return str(expr.name)
    if isinstance(expr, UnaryExpression):  # col DESC
        return _column_name(expr.element)
    if isinstance(expr, TextClause):  # text("col DESC")
        words = expr.text.split()
        return words[0].strip('`"') if words and _WORD.fullmatch(words[0].strip('`"')) else None
    if isinstance(expr, str):
        return expr
    return None
