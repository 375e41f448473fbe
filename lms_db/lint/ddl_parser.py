"""lint's own reader of MySQL/MariaDB DDL: CREATE TABLE, ALTER TABLE, CREATE INDEX.

It keeps what the server's rules depend on and sqlglot drops or cannot parse: type
lengths, UNSIGNED, character sets, key parts with prefix lengths or expressions, index
options (INVISIBLE, IGNORED), ENGINE, TEMPORARY, the partition clause, inline
REFERENCES.  A statement it does not understand raises
:class:`~lms_db.lint.ddl_tokens.DdlSyntaxError` and the caller falls back to sqlglot.
"""

from __future__ import annotations

from lms_db.lint.column_types import TWO_WORD_TYPES, TYPE_ALIASES
from lms_db.lint.ddl_tokens import Cursor, DdlSyntaxError, Token, tokenize
from lms_db.lint.partition_parser import parse_partition_by
from lms_db.lint.schema import (
    ColumnDef,
    ForeignKeyDef,
    IndexDef,
    IndexKind,
    KeyPart,
    Statement,
    TableDef,
    UniqueKey,
    normalize_type,
)

_KEY_WORDS = frozenset({"PRIMARY", "UNIQUE", "KEY", "INDEX", "FULLTEXT", "SPATIAL", "FOREIGN"})
_REF_ACTIONS = ("RESTRICT", "CASCADE", "NO ACTION", "SET NULL", "SET DEFAULT")


def parse_create_table(stmt: Statement, text: str) -> TableDef | None:
    """The table a ``CREATE TABLE`` makes; ``None`` for ``LIKE``/``AS SELECT`` copies."""
    cur = Cursor(tokenize(text), text)
    cur.expect("CREATE")
    cur.accept("OR", "REPLACE")
    temporary = cur.accept("TEMPORARY")
    cur.expect("TABLE")
    cur.accept("IF", "NOT", "EXISTS")
    tdef = TableDef(cur.name(), source=stmt.location, temporary=temporary, from_sql=True)
    if not cur.at("(") or cur.at("(", "SELECT") or cur.at("(", "LIKE"):
        return None
    for start, end in cur.group_items():
        sub = Cursor([t for t in cur.tokens if start <= t.start < end], text)
        element(sub, tdef, stmt)
    _table_options(cur, tdef, stmt)
    finish_columns(tdef)
    return tdef


def finish_columns(tdef: TableDef) -> None:
    """Give string columns without their own character set the table's."""
    if tdef.collation and not tdef.charset:
        tdef.charset = tdef.collation.split("_")[0]
    for col in tdef.columns.values():
        if col.type_name not in STRING_TYPES:
            continue
        if col.charset is None and col.collation:
            col.charset = col.collation.split("_")[0]
        if col.charset is None:
            col.charset = tdef.charset or "utf8mb4"
            col.collation = col.collation or tdef.collation


def parse_create_index(stmt: Statement, text: str, tables: dict[str, TableDef]) -> None:
    """Add the index of ``CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX name ON t (...)``."""
    cur = Cursor(tokenize(text), text)
    cur.expect("CREATE")
    cur.accept("OR", "REPLACE")
    cur.accept("ONLINE") or cur.accept("OFFLINE")
    kind: IndexKind = "btree"
    for word, value in (("UNIQUE", "unique"), ("FULLTEXT", "fulltext"), ("SPATIAL", "spatial")):
        if cur.accept(word):
            kind = value  # type: ignore[assignment]
    cur.expect("INDEX")
    cur.accept("IF", "NOT", "EXISTS")
    first = cur.peek()
    name = cur.name()
    if cur.accept("USING"):
        cur.next()
    cur.expect("ON")
    tdef = tables.get(cur.name())
    if tdef is None:
        return
    parts = _key_parts(cur)
    options = _key_options(cur)
    _add_index(tdef, kind, name, parts, options, location_of(stmt, first), named=True)


def element(cur: Cursor, tdef: TableDef, stmt: Statement) -> None:
    """Read one whole table element (column, key, foreign key...) from ``cur``."""
    element_here(cur, tdef, stmt)
    if not cur.done():
        raise DdlSyntaxError(f"unexpected {cur.next().text!r} in a table element")


def element_here(cur: Cursor, tdef: TableDef, stmt: Statement) -> None:
    """Read a table element at ``cur``, leaving what follows it."""
    first = cur.peek()
    if first is None:
        raise DdlSyntaxError("empty table element")
    where = location_of(stmt, first)
    constraint = ""
    if cur.accept("CONSTRAINT") and _upper(cur.peek()) not in _KEY_WORDS | {"CHECK"}:
        constraint = cur.name()
    word = _upper(cur.peek())
    if word == "CHECK" or (word == "PERIOD" and cur.at("PERIOD", "FOR")):
        cur.skip_to_item_end()
    elif word == "PRIMARY":
        cur.expect("PRIMARY", "KEY")
        _using(cur)
        tdef.pk_parts = _key_parts(cur)
        tdef.primary_key = tuple(p.column for p in tdef.pk_parts if p.column)
        tdef.pk_location = where
        tdef.primary_keys += 1
        tdef.pk_options = _key_options(cur)
        for col in tdef.primary_key:
            if col in tdef.columns:
                tdef.columns[col].nullable = False
    elif word == "FOREIGN":
        cur.expect("FOREIGN", "KEY")
        cur.accept("IF", "NOT", "EXISTS")
        fk_name = constraint
        if not cur.at("("):
            fk_name = fk_name or cur.name()
        cols = tuple(p.column for p in _key_parts(cur))
        fk = _references(cur, fk_name or f"fk_{tdef.name}_{'_'.join(cols)}", cols, where)
        tdef.foreign_keys.append(fk)
    elif word in _KEY_WORDS:
        _index_element(cur, tdef, where, constraint)
    else:
        _column(cur, tdef, stmt, where)


def _upper(tok: Token | None) -> str:
    return tok.upper if tok is not None else ""


def _index_element(cur: Cursor, tdef: TableDef, where: str, constraint: str) -> None:
    kind: IndexKind = "btree"
    word = cur.next().upper
    if word in ("UNIQUE", "FULLTEXT", "SPATIAL"):
        kind = word.lower()  # type: ignore[assignment]
        cur.accept("KEY") or cur.accept("INDEX")
    cur.accept("IF", "NOT", "EXISTS")
    name = ""
    if not cur.at("(") and not cur.at("USING"):
        name = cur.name()
    _using(cur)
    parts = _key_parts(cur)
    options = _key_options(cur)
    named = bool(name or constraint)
    _add_index(tdef, kind, name or constraint, parts, options, where, named=named)


def _add_index(
    tdef: TableDef,
    kind: IndexKind,
    name: str,
    parts: tuple[KeyPart, ...],
    options: tuple[str, ...],
    where: str,
    *,
    named: bool,
) -> None:
    cols = tuple(p.column for p in parts if p.column)
    name = name or _auto_name(tdef, cols[0] if cols else "functional_index")
    if kind == "unique":
        tdef.uniques.append(UniqueKey(name, cols, where, parts, options, named))
    else:
        tdef.indexes.append(IndexDef(name, cols, kind, where, parts, options, named))


def _auto_name(tdef: TableDef, base: str) -> str:
    """MySQL names an unnamed key after its first column, then ``col_2``, ``col_3``..."""
    taken = {i.name.lower() for i in tdef.indexes} | {u.name.lower() for u in tdef.uniques}
    if base.lower() not in taken and base.upper() != "PRIMARY":
        return base
    n = 2
    while f"{base}_{n}".lower() in taken:
        n += 1
    return f"{base}_{n}"


def _using(cur: Cursor) -> None:
    if cur.accept("USING"):
        cur.next()


def _key_parts(cur: Cursor) -> tuple[KeyPart, ...]:
    parts: list[KeyPart] = []
    for start, end in cur.group_items():
        toks = [t for t in cur.tokens if start <= t.start < end]
        while toks and toks[-1].upper in ("ASC", "DESC"):
            toks.pop()
        if len(toks) == 3 and toks[1].upper == "WITHOUT" and toks[2].upper == "OVERLAPS":
            continue  # MariaDB: an application-time period, not a column
        if len(toks) == 1 and toks[0].is_name:
            parts.append(KeyPart(toks[0].text.lower()))
        elif (
            len(toks) == 4
            and toks[0].is_name
            and toks[1].text == "("
            and toks[2].kind == "number"
            and toks[3].text == ")"
        ):
            parts.append(KeyPart(toks[0].text.lower(), int(float(toks[2].text))))
        else:
            parts.append(KeyPart("", None, cur.source(start, end)))
    return tuple(parts)


def _key_options(cur: Cursor) -> tuple[str, ...]:
    words: list[str] = []
    while (tok := cur.peek()) is not None and not (tok.kind == "punct" and tok.text in ",)"):
        if cur.at("NOT", "IGNORED"):
            cur.pos += 2
            words.append("NOT IGNORED")
            continue
        if tok.upper in ("WHERE", "INCLUDE"):
            raise DdlSyntaxError(f"{tok.upper} in an index definition (PostgreSQL)")
        cur.next()
        if tok.upper:
            words.append(tok.upper)
    return tuple(words)


def _references(cur: Cursor, name: str, cols: tuple[str, ...], where: str) -> ForeignKeyDef:
    cur.expect("REFERENCES")
    parent = cur.name()
    ref_cols = tuple(p.column for p in _key_parts(cur)) if cur.at("(") else ()
    fk = ForeignKeyDef(name, cols, parent, ref_cols, where)
    if cur.accept("MATCH"):
        cur.next()
    while cur.accept("ON"):
        event = cur.next().upper
        action = next((a for a in _REF_ACTIONS if cur.accept(*a.split())), "")
        if not action:
            raise DdlSyntaxError("expected a referential action")
        if event == "DELETE":
            fk.on_delete = action
        else:
            fk.on_update = action
    return fk


def _column(cur: Cursor, tdef: TableDef, stmt: Statement, where: str) -> None:
    column_definition(cur, tdef, where, cur.name())


def column_definition(
    cur: Cursor, tdef: TableDef, where: str, name: str, *, new: bool = True
) -> None:
    """Read ``type attributes...`` of column ``name`` (``new=False``: MODIFY/CHANGE)."""
    if new and name in tdef.columns:
        tdef.duplicate_columns.append(name)
    col = ColumnDef(_type_name(cur), location=where)
    if cur.at("("):
        args = [cur.text[a:b].strip() for a, b in cur.group_items()]
        if col.type_name in ("ENUM", "SET"):
            col.values = tuple(args)
        elif args and args[0].isdigit():
            col.length = int(args[0])
            col.has_length = True
            col.scale = int(args[1]) if len(args) > 1 and args[1].isdigit() else None
    if col.type_name == "SERIAL":  # BIGINT UNSIGNED NOT NULL AUTO_INCREMENT UNIQUE
        col.type_name, col.unsigned, col.nullable, col.auto_increment = "BIGINT", True, False, True
        tdef.uniques.append(UniqueKey(_auto_name(tdef, name), (name,), where, (KeyPart(name),)))
    tdef.columns[name] = col
    _column_attributes(cur, tdef, col, name, where)


def _type_name(cur: Cursor) -> str:
    tok = cur.next()
    if not tok.upper:
        raise DdlSyntaxError(f"expected a column type near {tok.text!r}")
    nxt = cur.peek()
    pair = (tok.upper, nxt.upper if nxt else "")
    if pair in TWO_WORD_TYPES:
        cur.next()
        return TWO_WORD_TYPES[pair]
    word = normalize_type(tok.upper)
    return TYPE_ALIASES.get(word, word)


def _column_attributes(cur: Cursor, tdef: TableDef, col: ColumnDef, name: str, where: str) -> None:
    while (tok := cur.peek()) is not None and not (tok.kind == "punct" and tok.text in ",)"):
        if cur.accept("UNSIGNED") or cur.accept("ZEROFILL"):  # ZEROFILL implies UNSIGNED
            col.unsigned = True
        elif cur.accept("NOT", "NULL"):
            col.nullable, col.null_declared = False, True
        elif cur.accept("NULL"):
            col.null_declared = col.explicit_null = True
        elif cur.accept("CHARACTER", "SET") or cur.accept("CHARSET"):
            col.charset = cur.next().text.lower()
        elif cur.accept("PRIMARY", "KEY") or cur.accept("KEY"):
            tdef.primary_key, tdef.pk_parts, tdef.pk_location = (name,), (KeyPart(name),), where
            tdef.primary_keys += 1
            col.nullable = False
        elif cur.accept("UNIQUE"):
            cur.accept("KEY")
            tdef.uniques.append(UniqueKey(_auto_name(tdef, name), (name,), where, (KeyPart(name),)))
        elif cur.at("REFERENCES"):
            fk = _references(cur, f"fk_{tdef.name}_{name}", (name,), where)
            fk.inline = True
            tdef.foreign_keys.append(fk)
        elif cur.accept("GENERATED", "ALWAYS") or cur.at("AS", "("):
            if cur.accept("AS"):
                start, end = cur.group()
                col.generated, col.expression = True, cur.source(start, end)
        elif cur.accept("STORED") or cur.accept("PERSISTENT"):
            col.stored = True
        elif cur.accept("WITH", "SYSTEM", "VERSIONING"):
            tdef.system_versioned = True
        elif cur.accept("AUTO_INCREMENT"):
            col.auto_increment = True
        elif cur.accept("COLLATE"):
            col.collation = cur.next().text.lower()
        elif cur.accept("INVISIBLE"):
            col.invisible = True
        elif cur.accept("COMPRESSED"):
            col.compressed = True
        elif cur.at("DEFAULT"):
            col.has_default = True
            cur.next()
            _value(cur)
        elif cur.accept("COMMENT") or cur.accept("ON", "UPDATE"):
            _value(cur)
        elif cur.at("("):
            cur.group()  # CHECK (...), a default's arguments
        else:
            cur.next()  # NULL, AUTO_INCREMENT, ZEROFILL, SRID n, INVISIBLE, STORED...


def _value(cur: Cursor) -> None:
    """Skip a default value, comment or collation: a literal, ``(expr)`` or ``f(...)``."""
    tok = cur.next()
    if tok.text in ("-", "+"):
        cur.next()
    elif tok.text == "(":
        cur.pos -= 1
        cur.group()
    elif tok.kind == "word" and cur.at("("):
        cur.group()


def _table_options(cur: Cursor, tdef: TableDef, stmt: Statement) -> None:
    while (tok := cur.peek()) is not None:
        if cur.at("PARTITION", "BY"):
            cur.pos += 2
            tdef.partition = parse_partition_by(cur, location_of(stmt, tok))
            continue
        if tok.upper in ("SELECT", "AS", "IGNORE", "REPLACE"):
            return
        if cur.accept("ENGINE") or cur.accept("TYPE"):
            cur.accept("=")
            tdef.engine = cur.next().text.upper()
        elif cur.accept("DEFAULT"):
            continue
        elif cur.accept("CHARACTER", "SET") or cur.accept("CHARSET"):
            cur.accept("=")
            tdef.charset = cur.next().text.lower()
        elif cur.accept("COLLATE"):
            cur.accept("=")
            tdef.collation = cur.next().text.lower()
        elif cur.accept("WITH", "SYSTEM", "VERSIONING"):
            tdef.system_versioned = True
        elif cur.accept("ROW_FORMAT"):
            cur.accept("=")
            tdef.row_format = cur.next().text.upper()
        elif tok.text == "(":
            cur.group()  # UNION=(t1, t2) of a MERGE table
        else:
            cur.next()  # ROW_FORMAT=..., COMMENT '...', WITH SYSTEM VERSIONING, ",", "="


def location_of(stmt: Statement, tok: Token | None) -> str:
    """``file:line`` of a token of the statement."""
    if tok is None:
        return stmt.location
    return stmt.location_at(stmt.text.count("\n", 0, tok.start) + 1)


#: Types whose columns have a character set.
STRING_TYPES = frozenset(
    {"CHAR", "VARCHAR", "TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT", "ENUM", "SET"}
)
