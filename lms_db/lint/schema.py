"""The neutral table description every rule reads, whatever the source (models or SQL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from lms_db.lint.targets import MYSQL8, Target

if TYPE_CHECKING:
    from sqlglot import exp

IndexKind = Literal["btree", "fulltext", "unique", "spatial"]

_TYPE_SYNONYMS = {"INTEGER": "INT", "NUMERIC": "DECIMAL", "BOOLEAN": "BOOL", "DEC": "DECIMAL"}


def normalize_type(name: str) -> str:
    """One spelling per MySQL type (``INTEGER`` -> ``INT``, ``NUMERIC`` -> ``DECIMAL``)."""
    upper = name.upper()
    return _TYPE_SYNONYMS.get(upper, upper)


@dataclass
class ColumnDef:
    """A column: its MySQL type name (``TIMESTAMP``, ``BIGINT``...) and nullability.

    The rest is filled by the SQL front end: ``length`` (``VARCHAR(20)`` -> 20, ``DECIMAL(5,2)``
    -> 5), ``scale``, ``unsigned``, ``charset`` (as declared, else the table's), the
    ``values`` of an ENUM/SET, whether the column is ``generated``.
    """

    type_name: str
    nullable: bool = True
    length: int | None = None
    scale: int | None = None
    unsigned: bool = False
    charset: str | None = None
    values: tuple[str, ...] = ()
    generated: bool = False
    location: str = ""
    auto_increment: bool = False
    collation: str = ""
    has_length: bool = False  # a (length) was written
    invisible: bool = False  # an INVISIBLE column (MySQL 8.0.23+, MariaDB 10.3+)
    has_default: bool = False
    compressed: bool = False  # MariaDB's COMPRESSED column attribute
    null_declared: bool = False  # NULL or NOT NULL written (MariaDB refuses it on generated)
    explicit_null: bool = False  # NULL written (MySQL 8 refuses it in a primary key)
    stored: bool = False  # a STORED (PERSISTENT) generated column; else VIRTUAL if generated
    expression: str = ""  # of a generated column


@dataclass
class KeyPart:
    """One part of an index: a column with an optional prefix ``length``, or an
    ``expression`` (a MySQL 8 functional key part, ``column`` empty)."""

    column: str
    length: int | None = None
    expression: str = ""


@dataclass
class IndexDef:
    """A secondary index (``kind`` btree, fulltext or unique)."""

    name: str
    cols: tuple[str, ...]
    kind: IndexKind = "btree"
    location: str = ""
    parts: tuple[KeyPart, ...] = ()
    options: tuple[str, ...] = ()  # upper-case words after the parts: INVISIBLE, IGNORED...
    named: bool = True


@dataclass
class UniqueKey:
    """A UNIQUE constraint."""

    name: str
    cols: tuple[str, ...]
    location: str = ""
    parts: tuple[KeyPart, ...] = ()
    options: tuple[str, ...] = ()
    named: bool = True


@dataclass
class ForeignKeyDef:
    """A foreign key ``cols`` -> ``ref_table(ref_cols)``."""

    name: str
    cols: tuple[str, ...]
    ref_table: str
    ref_cols: tuple[str, ...]
    location: str = ""
    on_delete: str = ""
    on_update: str = ""
    inline: bool = False  # ``col INT REFERENCES t(id)``: MySQL 8 ignores it, MariaDB doesn't
    order: int = -1  # index of the statement that declared it (SQL front end)


@dataclass
class PartitionEntry:
    """One ``PARTITION name VALUES ...`` of a definition list.

    ``values`` are the raw value tuples (one tuple per ``(...)`` of ``IN``, one for
    ``LESS THAN``), each value as written (``MAXVALUE``, ``NULL``, ``'a'``, ``10``).
    """

    name: str
    operator: str = ""  # "LESS THAN", "IN" or "" (HASH/KEY)
    values: tuple[tuple[str, ...], ...] = ()
    subpartitions: tuple[str, ...] = ()
    engine: str = ""


@dataclass
class PartitionDef:
    """A partition scheme: ``kind`` (``RANGE``, ``LIST COLUMNS``...), expression, columns.

    ``applied`` is false for a model spec that is declared but not rendered; ``reason``
    says why (shown by lint).  The SQL front end also reads the definitions
    (``partitions``), ``PARTITIONS n`` (``count``) and the subpartitioning.
    """

    kind: str
    expression: str
    columns: tuple[str, ...]
    applied: bool = True
    reason: str = ""
    location: str = ""
    linear: bool = False
    count: int | None = None
    partitions: tuple[PartitionEntry, ...] = ()
    sub_kind: str = ""
    sub_expression: str = ""
    sub_columns: tuple[str, ...] = ()
    sub_count: int | None = None
    algorithm: int | None = None  # KEY ALGORITHM=n
    parsed: bool = False  # the definitions above were read (SQL front end)


@dataclass
class TableDef:
    """One table as the rules see it; column names are lower case."""

    name: str
    columns: dict[str, ColumnDef] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    uniques: list[UniqueKey] = field(default_factory=list)
    indexes: list[IndexDef] = field(default_factory=list)
    foreign_keys: list[ForeignKeyDef] = field(default_factory=list)
    partition: PartitionDef | None = None
    keyspace: str | None = None
    source: str = "model"
    pk_location: str = ""
    engine: str = ""
    temporary: bool = False
    charset: str = ""
    pk_parts: tuple[KeyPart, ...] = ()
    pk_options: tuple[str, ...] = ()
    collation: str = ""
    primary_keys: int = 0  # PRIMARY KEY declarations seen (more than one is refused)
    row_format: str = ""
    system_versioned: bool = False  # MariaDB WITH SYSTEM VERSIONING
    duplicate_columns: list[str] = field(default_factory=list)
    created_at: int = -1  # index of the statement that created it (SQL front end)
    #: (message, location) of drops that foreign keys forbid (LMS506)
    fk_problems: list[tuple[str, str]] = field(default_factory=list)
    #: foreign keys added by an ALTER TABLE ... ALGORITHM=INPLACE: (name, location)
    inplace_foreign_keys: list[tuple[str, str]] = field(default_factory=list)
    #: (message, location) of ALTER TABLE partition operations the server refuses.
    alter_problems: list[tuple[str, str]] = field(default_factory=list)
    from_sql: bool = False  # built by the SQL front end (all details above are known)

    def has_index_on(self, cols: tuple[str, ...]) -> bool:
        """Some B-tree index starts with ``cols`` in order (no prefix parts); InnoDB's hidden
        primary key columns after a secondary index's own count (MySQL 8.0 15.1.20.5)."""
        hidden = tuple(p for p in self.pk_parts if p.length is None)
        keys = [self.pk_parts]
        keys += [u.parts + hidden for u in self.uniques]
        keys += [i.parts + hidden for i in self.indexes if i.kind in ("btree", "unique")]
        for parts in keys:
            head = parts[: len(cols)]
            if len(head) == len(cols) and all(
                p.column == c and p.length is None for p, c in zip(head, cols, strict=True)
            ):
                return True
        return False

    def unique_keys(self) -> list[tuple[str, tuple[str, ...], str]]:
        """Every unique key as ``(name, cols, location)``: PK, UNIQUE constraints, indexes."""
        keys = [("PRIMARY", self.primary_key, self.pk_location or self.source)]
        keys += [(u.name, u.cols, u.location or self.source) for u in self.uniques]
        keys += [
            (i.name, i.cols, i.location or self.source) for i in self.indexes if i.kind == "unique"
        ]
        return [key for key in keys if key[1]]


@dataclass
class Statement:
    """One SQL statement of a source, kept for the syntax rules.

    :param text: the statement as written (comments included, no trailing ``;``).
    :param location: ``file:line`` of its first significant character.
    :param first_line: the line number of ``text``'s first character in the file.
    :param path: the file it comes from.
    :param tree: what sqlglot parsed (``None`` when parsing failed).
    :param error: sqlglot's error when parsing failed.
    """

    text: str
    location: str
    first_line: int
    path: str
    tree: exp.Expression | None = None
    error: str | None = None
    understood: bool = False  # lint's own DDL parser read it (sqlglot's verdict is moot)

    def location_at(self, relative_line: int) -> str:
        """``file:line`` of a line counted from 1 inside :attr:`text`."""
        return f"{self.path}:{self.first_line + relative_line - 1}"


@dataclass
class Document:
    """What the rules run over: tables by name, the statements they came from, and the
    keyspace of tables known elsewhere (the models) for references leaving the document."""

    tables: dict[str, TableDef] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)
    keyspaces: dict[str, str] = field(default_factory=dict)
    target: Target = MYSQL8
    #: (statement index, checks on?) of each SET FOREIGN_KEY_CHECKS, in order
    fk_switches: list[tuple[int, bool]] = field(default_factory=list)
    order: dict[str, int] = field(default_factory=dict)  # table -> statement index created
    #: DROP TABLE statements: (statement index, location, the tables it drops)
    dropped_tables: list[tuple[int, str, frozenset[str]]] = field(default_factory=list)

    def fk_checks_on(self, pos: int) -> bool:
        """FOREIGN_KEY_CHECKS as of statement ``pos`` (on unless a SET turned it off)."""
        on = True
        for at, state in self.fk_switches:
            if at > pos:
                break
            on = state
        return on

    def keyspace_of(self, table: str) -> str | None:
        """The keyspace of ``table``: its own tag, else the models' one, else ``None``."""
        tdef = self.tables.get(table)
        if tdef is not None and tdef.keyspace:
            return tdef.keyspace
        return self.keyspaces.get(table)
