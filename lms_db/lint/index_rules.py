"""LMS2xx: index hygiene (redundant indexes, foreign keys without an index)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lms_db.lint.findings import Finding, finding
from lms_db.lint.schema import Document, KeyPart, TableDef


@dataclass(frozen=True)
class _Key:
    """A B-tree key of a table, in declaration order (PK, UNIQUE, then indexes)."""

    label: str
    cols: tuple[str, ...]
    unique: bool
    location: str


def _shape(cols: tuple[str, ...], parts: tuple[KeyPart, ...]) -> tuple[str, ...] | None:
    """The key's columns, a prefix written ``a(5)``; None for functional keys (not compared)."""
    if not parts:
        return cols
    if any(p.expression for p in parts):
        return None
    return tuple(p.column if p.length is None else f"{p.column}({p.length})" for p in parts)


def _keys(table: TableDef) -> list[_Key]:
    keys: list[_Key] = []
    candidates = [("PRIMARY KEY", table.primary_key, table.pk_parts, True, table.pk_location)]
    candidates += [(f"UNIQUE {u.name}", u.cols, u.parts, True, u.location) for u in table.uniques]
    for index in table.indexes:
        if index.kind in ("fulltext", "spatial"):
            continue  # these serve no B-tree lookup, nor are served by one
        label = f"UNIQUE {index.name}" if index.kind == "unique" else f"INDEX {index.name}"
        candidates.append((label, index.cols, index.parts, index.kind == "unique", index.location))
    for label, cols, parts, unique, location in candidates:
        shape = _shape(cols, parts)
        if shape:
            keys.append(_Key(label, shape, unique, location or table.source))
    return keys


def _covering(key: _Key, pos: int, keys: list[_Key]) -> _Key | None:
    """The key that makes ``key`` redundant, if any."""
    for other_pos, other in enumerate(keys):
        if other_pos == pos or other.cols[: len(key.cols)] != key.cols:
            continue
        same = other.cols == key.cols
        if key.unique:
            # a unique key is redundant only beside an identical unique key declared first
            if same and other.unique and other_pos < pos:
                return other
        elif not same or other.unique or other_pos < pos:
            return other
    return None


def check_redundant(doc: Document) -> Iterator[Finding]:
    """LMS201: an index that is a leading prefix of another key of the same table."""
    for table in doc.tables.values():
        keys = _keys(table)
        for pos, key in enumerate(keys):
            if key.label == "PRIMARY KEY":
                continue
            other = _covering(key, pos, keys)
            if other is None:
                continue
            how = "duplicates" if other.cols == key.cols else "is a leading prefix of"
            yield finding(
                "LMS201",
                table.name,
                f"{key.label} ({', '.join(key.cols)}) {how} {other.label} "
                f"({', '.join(other.cols)}), which already serves it; drop it",
                key.location,
            )


def check_fk_index(doc: Document) -> Iterator[Finding]:
    """LMS202: foreign key columns should lead some index, unique key or the PK."""
    for table in doc.tables.values():
        keys = _keys(table)
        ignored = table.engine not in ("", "INNODB")  # MyISAM & co. parse and drop foreign keys
        for fk in table.foreign_keys:
            if ignored or (fk.inline and not doc.target.mariadb):  # MySQL 8 ignores inline ones
                continue
            if any(key.cols[: len(fk.cols)] == fk.cols for key in keys):
                continue
            yield finding(
                "LMS202",
                table.name,
                f"foreign key {fk.name} ({', '.join(fk.cols)}) -> {fk.ref_table} has no index "
                f"starting with its columns; add INDEX ({', '.join(fk.cols)}) or InnoDB adds "
                "a hidden one",
                fk.location or table.source,
            )


CHECKS = (check_redundant, check_fk_index)
