"""Front end: SQL text -> :class:`~lms_db.lint.schema.Document`.

sqlglot (``read="mysql"``) parses ``CREATE TABLE``, ``CREATE INDEX`` and ``ALTER TABLE ...
ADD``; it gives up on ``PARTITION BY`` clauses, so those are cut off and read by the
small parser below.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from lms_db.lint.ddl_alter import parse_alter_table
from lms_db.lint.ddl_parser import parse_create_index, parse_create_table
from lms_db.lint.ddl_tokens import DdlSyntaxError
from lms_db.lint.partition_columns import resolve_partition_columns
from lms_db.lint.schema import (
    ColumnDef,
    Document,
    ForeignKeyDef,
    IndexDef,
    IndexKind,
    Statement,
    TableDef,
    UniqueKey,
    normalize_type,
)
from lms_db.lint.sources import Chunk, RawStatement, expand_versioned, mask, split_statements
from lms_db.lint.targets import MYSQL8, Target

_NAME = r"(?:`[^`]+`|[\w$]+)(?:\s*\.\s*(?:`[^`]+`|[\w$]+))?"
_ALTER_TABLE = re.compile(
    rf"^\s*ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+(?P<table>{_NAME})\s*", re.I
)
_PARTITION_BY = re.compile(
    r"\bPARTITION\s+BY\s+(?:LINEAR\s+)?(?P<kind>RANGE|LIST|HASH|KEY)(?P<columns>\s+COLUMNS)?"
    r"\s*(?:ALGORITHM\s*=\s*\d+\s*)?\(",
    re.I,
)
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?TABLE\b", re.I)
_CREATE_INDEX = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:ONLINE\s+|OFFLINE\s+)?(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?"
    r"INDEX\b",
    re.I,
)
_COPY_TABLE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?P<temporary>TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?P<name>{_NAME})\s*(?:\(?\s*LIKE\s+(?P<like>{_NAME})|(?:AS\s+)?\(?\s*SELECT\b)",
    re.I,
)
_DROP_TABLE = re.compile(r"^\s*DROP\s+(?:TEMPORARY\s+)?TABLES?\s+(?:IF\s+EXISTS\s+)?", re.I)
_PARTITION_SELECTION = re.compile(
    rf"(?:FROM|INTO|UPDATE|JOIN|TABLE|,)\s*{_NAME}\s*(?P<gone>PARTITION\s*\([^()]*\))", re.I
)
_EXPLAIN_EXTRA = re.compile(r"^\s*EXPLAIN\s+(?P<gone>PARTITIONS|EXTENDED)\b", re.I)
_FK_CHECKS = re.compile(
    r"^\s*SET\b.*\bFOREIGN_KEY_CHECKS\s*=\s*(?P<value>0|1|OFF|ON|DEFAULT|@[\w$.]+)", re.I | re.S
)
_PREFIXED_INDEX = re.compile(r"^\s*CREATE\s+(?P<prefix>FULLTEXT|SPATIAL)\s+INDEX\b", re.I)
_TYPE_WORD = re.compile(r"[A-Za-z_]\w*")


@dataclass
class _Parsed:
    """A statement plus what lint read from it itself."""

    stmt: Statement
    index_kind: IndexKind | None = None
    own: str = ""  # "table", "index" or "alter": lint's own parser reads it


def document_from_chunks(
    chunks: Iterable[Chunk], keyspaces: Mapping[str, str], target: Target = MYSQL8
) -> Document:
    """Parse every statement of ``chunks`` and describe the tables they create.

    Executable comments (``/*!50100 ...*/``, ``/*M!...*/``) are opened as ``target``
    would run them.

    :param chunks: SQL text with its file and first line.
    :param keyspaces: table name -> keyspace (tables not listed get ``None``).
    :param target: the server whose rules apply.
    """
    expanded = [
        Chunk(c.path, expand_versioned(c.text, target.version, target.mariadb), c.first_line)
        for c in chunks
    ]
    parsed = [
        _parse_statement(chunk.path, raw) for chunk in expanded for raw in split_statements(chunk)
    ]
    doc = Document(statements=[p.stmt for p in parsed], keyspaces=dict(keyspaces), target=target)
    for pos, item in enumerate(parsed):  # pass 1: tables, wherever they are created
        masked = mask(item.stmt.text)
        switch = _FK_CHECKS.match(masked)
        if switch:
            doc.fk_switches.append((pos, switch.group("value").upper() not in ("0", "OFF")))
        drop = _DROP_TABLE.match(masked)
        if drop:
            rest = item.stmt.text[drop.end() :].split(",")
            names = [table_name(n.split()[0]) for n in rest if n.split()]
            doc.dropped_tables.append((pos, item.stmt.location, frozenset(names)))
        tdef = _created_table(item, doc.tables)
        if tdef is not None:
            doc.tables[tdef.name] = tdef
            doc.order.setdefault(tdef.name, pos)
            tdef.created_at = pos
            _stamp_foreign_keys(tdef, pos)
    for pos, item in enumerate(parsed):  # pass 2: what is added to them, in document order
        if item.own in ("index", "alter"):
            _apply_own(doc, item)
        elif item.own != "table":
            _apply_statement(doc, item)
        for tdef in list(doc.tables.values()):
            _stamp_foreign_keys(tdef, pos)
    for tdef in doc.tables.values():
        tdef.keyspace = keyspaces.get(tdef.name)
        resolve_partition_columns(tdef)
    return doc


def _created_table(item: _Parsed, tables: dict[str, TableDef]) -> TableDef | None:
    tree, stmt = item.stmt.tree, item.stmt
    copy = _COPY_TABLE.match(mask(stmt.text))
    if item.own == "table" and copy:  # CREATE TABLE t LIKE s / AS SELECT: what is known
        stmt.understood = True
        name = table_name(copy.group("name"))
        source = tables.get(table_name(copy.group("like") or ""))
        if source is None:
            return TableDef(name, source=stmt.location)  # columns unknown: no rule reads it
        twin = deepcopy(source)  # LIKE copies columns, keys, partitioning; no foreign keys
        twin.name, twin.source, twin.foreign_keys, twin.alter_problems = name, stmt.location, [], []
        twin.temporary = bool(copy.group("temporary"))
        return twin
    if item.own == "table":
        try:
            tdef = parse_create_table(stmt, stmt.text)
        except DdlSyntaxError:
            tdef = None
        else:
            stmt.understood = True
        if tdef is not None:
            return tdef
        # LIKE / AS SELECT copies, or DDL lint's parser does not know: sqlglot's turn
        tree, stmt.error = parse_sql(_without_partition(stmt.text))
        stmt.tree = tree
    if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
        return _table_from_create(stmt, tree)
    return None


def _blank(text: str, masked: str, pattern: re.Pattern[str]) -> str:
    """``text`` with the ``gone`` group of every match of ``pattern`` (on ``masked``) blanked."""
    for match in pattern.finditer(masked):
        start, end = match.span("gone")
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def _stamp_foreign_keys(tdef: TableDef, pos: int) -> None:
    for fk in tdef.foreign_keys:
        if fk.order < 0:
            fk.order = pos


def _apply_own(doc: Document, item: _Parsed) -> None:
    stmt = item.stmt
    try:
        if item.own == "index":
            parse_create_index(stmt, stmt.text, doc.tables)
        else:
            parse_alter_table(stmt, stmt.text, doc.tables)
    except DdlSyntaxError:
        if stmt.tree is None and stmt.error is None:
            stmt.tree, stmt.error = parse_sql(stmt.text)
        _apply_statement(doc, item)
    else:
        stmt.understood = True


def _without_partition(text: str) -> str:
    clause = _top_level_partition(mask(text))
    return text[: clause.start()] if clause else text


def table_name(raw: str) -> str:
    """Normalize ``db.`tbl``` to ``tbl`` (lower case)."""
    return raw.split(".")[-1].strip().strip('`"').lower()


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """Silence sqlglot's "falling back to Command" warnings: lint reports those itself."""

    def drop(record: logging.LogRecord) -> bool:
        return False

    logger = logging.getLogger("sqlglot")
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def parse_sql(text: str) -> tuple[exp.Expression | None, str | None]:
    """Parse one MySQL statement: ``(tree, None)`` or ``(None, error)``."""
    try:
        with _quiet_sqlglot():
            trees = [t for t in sqlglot.parse(text, read="mysql") if t is not None]
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        where = f" near {err.get('highlight')!r}" if err.get("highlight") else ""
        return None, f"{err.get('description') or 'cannot parse'}{where}"
    except Exception as exc:  # tokenizer and other sqlglot failures: report, don't crash
        return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    tree = trees[0] if trees else None
    return (tree, None) if isinstance(tree, exp.Expression) else (None, "no statement")


def _parse_statement(path: str, raw: RawStatement) -> _Parsed:
    """Classify a statement; sqlglot parses all but CREATE TABLE up front (that one only
    when lint's own parser cannot read it: :func:`_created_table`)."""
    text, masked = raw.text, mask(raw.text)
    stmt = Statement(raw.text, f"{path}:{raw.line}", raw.first_line, path)
    parsed = _Parsed(stmt)
    if _CREATE_TABLE.match(masked):
        parsed.own = "table"
        return parsed
    if _ALTER_TABLE.match(masked):
        parsed.own = "alter"
    elif _CREATE_INDEX.match(masked):
        parsed.own = "index"
    text = _blank(text, masked, _PARTITION_SELECTION)  # FROM t PARTITION (p0): sqlglot cannot
    text = _blank(text, masked, _EXPLAIN_EXTRA)
    prefixed = _PREFIXED_INDEX.match(masked)
    if prefixed:  # CREATE FULLTEXT INDEX: same offsets, sqlglot reads a plain index
        parsed.index_kind = "fulltext"
        start, end = prefixed.span("prefix")
        text = text[:start] + " " * (end - start) + text[end:]
    stmt.tree, stmt.error = parse_sql(text)
    return parsed


def _top_level_partition(masked: str) -> re.Match[str] | None:
    for match in _PARTITION_BY.finditer(masked):
        before = masked[: match.start()]
        if before.count("(") == before.count(")"):
            return match
    return None


def _apply_statement(doc: Document, item: _Parsed) -> None:
    tree, stmt = item.stmt.tree, item.stmt
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index):
        _apply_create_index(doc, stmt, tree, item.index_kind)
    elif isinstance(tree, exp.Alter) and isinstance(tree.this, exp.Table):
        tdef = doc.tables.get(table_name(tree.this.name))
        if tdef is None:
            return
        for action in tree.args.get("actions") or []:
            nodes = action.expressions if isinstance(action, exp.AddConstraint) else [action]
            for node in nodes:
                _apply_element(tdef, node, stmt)


def _apply_create_index(
    doc: Document, stmt: Statement, tree: exp.Create, kind: IndexKind | None
) -> None:
    index = tree.this
    table = index.args.get("table")
    tdef = doc.tables.get(table_name(table.name)) if isinstance(table, exp.Table) else None
    params = index.args.get("params")
    if tdef is None or params is None:
        return
    cols = _columns(params.args.get("columns") or [])
    kind = kind or ("unique" if tree.args.get("unique") else "btree")
    tdef.indexes.append(IndexDef(index.name or cols[0], cols, kind, _where(stmt, index)))


def _table_from_create(stmt: Statement, tree: exp.Create) -> TableDef | None:
    schema = tree.this
    if not isinstance(schema, exp.Schema) or not isinstance(schema.this, exp.Table):
        return None  # CREATE TABLE ... AS SELECT / LIKE: columns unknown
    tdef = TableDef(name=table_name(schema.this.name), source=stmt.location)
    for node in schema.expressions:
        _apply_element(tdef, node, stmt)
    return tdef


def _apply_element(tdef: TableDef, node: exp.Expression, stmt: Statement, name: str = "") -> None:
    """Add a column, key, index or foreign key of a CREATE/ALTER TABLE to ``tdef``."""
    where = _where(stmt, node)
    if isinstance(node, exp.ColumnDef):
        _add_column(tdef, node, stmt)
    elif isinstance(node, exp.Constraint):
        for inner in node.expressions:
            _apply_element(tdef, inner, stmt, node.name)
    elif isinstance(node, exp.PrimaryKey):
        tdef.primary_key, tdef.pk_location = _columns(node.expressions), where
    elif isinstance(node, exp.UniqueColumnConstraint):
        key = node.this
        cols = _columns(key.expressions) if isinstance(key, exp.Schema) else ()
        key_name = name or (key.this.name if isinstance(key, exp.Schema) and key.this else "")
        if cols:
            tdef.uniques.append(UniqueKey(key_name or cols[0], cols, where))
    elif isinstance(node, exp.IndexColumnConstraint):
        cols = _columns(node.expressions)
        flavour = str(node.args.get("kind") or "").upper()
        kind: IndexKind = (
            "fulltext" if flavour == "FULLTEXT" else ("unique" if flavour == "UNIQUE" else "btree")
        )
        if cols and flavour != "SPATIAL":
            tdef.indexes.append(IndexDef(node.name or name or cols[0], cols, kind, where))
    elif isinstance(node, exp.ForeignKey):
        ref = node.args.get("reference")
        target = ref.this if isinstance(ref, exp.Reference) else None
        if isinstance(target, exp.Schema) and isinstance(target.this, exp.Table):
            cols = _columns(node.expressions)
            tdef.foreign_keys.append(
                ForeignKeyDef(
                    name or f"fk_{tdef.name}_{'_'.join(cols)}",
                    cols,
                    table_name(target.this.name),
                    _columns(target.expressions),
                    where,
                )
            )


def _add_column(tdef: TableDef, node: exp.ColumnDef, stmt: Statement) -> None:
    name = node.name.lower()
    nullable = True
    for constraint in node.args.get("constraints") or []:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.NotNullColumnConstraint) and not kind.args.get("allow_null"):
            nullable = False
        elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
            tdef.primary_key, tdef.pk_location = (name,), _where(stmt, node)
            nullable = False
        elif isinstance(kind, exp.UniqueColumnConstraint):
            tdef.uniques.append(UniqueKey(name, (name,), _where(stmt, node)))
    tdef.columns[name] = ColumnDef(raw_type(stmt.text, node), nullable)


def raw_type(text: str, node: exp.ColumnDef) -> str:
    """The type word as written after the column name (``TIMESTAMPTZ`` stays itself)."""
    end = node.this.meta.get("end") if isinstance(node.this, exp.Identifier) else None
    if isinstance(end, int):
        match = _TYPE_WORD.match(text[end + 1 :].lstrip('`" \t\r\n'))
        if match:
            return normalize_type(match.group(0))
    kind = node.args.get("kind")
    words = kind.sql(dialect="mysql").split() if isinstance(kind, exp.DataType) else []
    return normalize_type(words[0].split("(")[0]) if words else ""


def _columns(nodes: Iterable[exp.Expression]) -> tuple[str, ...]:
    """Column names of a key/index list: identifiers, ``col DESC``, ``col(10)`` prefixes."""
    cols: list[str] = []
    for node in nodes:
        while isinstance(node, exp.Ordered | exp.Paren):
            node = node.this
        if isinstance(node, exp.Identifier | exp.Column):
            cols.append(node.name.lower())
        elif isinstance(node, exp.Anonymous):  # col(10): an index prefix length
            cols.append(str(node.this).lower())
    return tuple(cols)


def _where(stmt: Statement, node: exp.Expression) -> str:
    """``file:line`` of the first identifier in ``node`` (the statement's line if none)."""
    for ident in node.find_all(exp.Identifier):
        line = ident.meta.get("line")
        if isinstance(line, int):
            return stmt.location_at(line)
    return stmt.location
