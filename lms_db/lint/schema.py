"""The neutral table description every rule reads, whatever the source (models or SQL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sqlglot import exp

IndexKind = Literal["btree", "fulltext", "unique"]

_TYPE_SYNONYMS = {"INTEGER": "INT", "NUMERIC": "DECIMAL", "BOOLEAN": "BOOL", "DEC": "DECIMAL"}


def normalize_type(name: str) -> str:
    """One spelling per MySQL type (``INTEGER`` -> ``INT``, ``NUMERIC`` -> ``DECIMAL``)."""
    upper = name.upper()
    return _TYPE_SYNONYMS.get(upper, upper)


@dataclass
class ColumnDef:
    """A column: its MySQL type name (``TIMESTAMP``, ``BIGINT``...) and nullability."""

    type_name: str
    nullable: bool = True


@dataclass
class IndexDef:
    """A secondary index (``kind`` btree, fulltext or unique)."""

    name: str
    cols: tuple[str, ...]
    kind: IndexKind = "btree"
    location: str = ""


@dataclass
class UniqueKey:
    """A UNIQUE constraint."""

    name: str
    cols: tuple[str, ...]
    location: str = ""


@dataclass
class ForeignKeyDef:
    """A foreign key ``cols`` -> ``ref_table(ref_cols)``."""

    name: str
    cols: tuple[str, ...]
    ref_table: str
    ref_cols: tuple[str, ...]
    location: str = ""


@dataclass
class PartitionDef:
    """A partition scheme: ``kind`` (``RANGE``, ``LIST COLUMNS``...), expression, columns.

    ``applied`` is false for a model spec that is declared but not rendered; ``reason``
    says why (shown by lint).
    """

    kind: str
    expression: str
    columns: tuple[str, ...]
    applied: bool = True
    reason: str = ""
    location: str = ""


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

    def keyspace_of(self, table: str) -> str | None:
        """The keyspace of ``table``: its own tag, else the models' one, else ``None``."""
        tdef = self.tables.get(table)
        if tdef is not None and tdef.keyspace:
            return tdef.keyspace
        return self.keyspaces.get(table)
