"""LMS501-LMS506: foreign keys InnoDB refuses (MySQL 8.0 manual 15.1.20.5, FOREIGN KEY
Constraints; MariaDB KB "Foreign Keys").  A refused key fails the whole CREATE/ALTER
(MySQL error 1005/3780/1830, MariaDB errno 150)."""

from __future__ import annotations

from collections.abc import Iterator

from lms_db.lint.column_types import BLOB_TYPES, TEXT_TYPES, same_fk_type
from lms_db.lint.findings import Finding, finding
from lms_db.lint.schema import Document, ForeignKeyDef, TableDef


def _foreign_keys(doc: Document) -> Iterator[tuple[TableDef, ForeignKeyDef]]:
    """Foreign keys the target creates: MySQL 8 ignores inline ``col ... REFERENCES``."""
    for table in doc.tables.values():
        if not table.from_sql:
            continue
        for fk in table.foreign_keys:
            if fk.inline and not doc.target.mariadb:
                continue
            if table.engine and table.engine != "INNODB":
                continue  # MyISAM and friends parse and ignore foreign keys
            yield table, fk


def _where(table: TableDef, fk: ForeignKeyDef) -> str:
    return fk.location or table.source


def check_parent(doc: Document) -> Iterator[Finding]:
    """LMS501: the parent table does not exist when the key is created, or is TEMPORARY
    (or the child is)."""
    for table, fk in _foreign_keys(doc):
        parent = doc.tables.get(fk.ref_table)
        if parent is not None and parent.engine and parent.engine != "INNODB":
            yield finding(
                "LMS501",
                table.name,
                f"foreign key {fk.name}: parent {fk.ref_table} "
                f"is {parent.engine}; parent and child must both be InnoDB",
                _where(table, fk),
            )
            continue
        if table.temporary or (parent is not None and parent.temporary):
            yield finding(
                "LMS501",
                table.name,
                f"foreign key {fk.name}: temporary tables "
                "cannot have or be referenced by foreign keys",
                _where(table, fk),
            )
            continue
        if not doc.fk_checks_on(fk.order) or fk.ref_table == table.name:
            continue
        if parent is None and fk.ref_table in doc.keyspaces:
            continue  # a table of the models, created elsewhere
        if parent is None or parent.created_at > fk.order:
            when = "does not exist" if parent is None else "is created only later"
            yield finding(
                "LMS501",
                table.name,
                f"foreign key {fk.name} references "
                f"{fk.ref_table}, which {when} (with FOREIGN_KEY_CHECKS=1)",
                _where(table, fk),
            )


def check_columns(doc: Document) -> Iterator[Finding]:
    """LMS502: column count, types (size, sign, charset) of child and parent must match;
    TEXT/BLOB columns cannot be in a foreign key."""
    for table, fk in _foreign_keys(doc):
        parent = doc.tables.get(fk.ref_table)
        if fk.ref_cols and len(fk.cols) != len(fk.ref_cols):
            yield finding(
                "LMS502",
                table.name,
                f"foreign key {fk.name} has {len(fk.cols)} "
                f"column(s) but references {len(fk.ref_cols)}",
                _where(table, fk),
            )
            continue
        if parent is None:
            continue
        for child_name, parent_name in zip(
            fk.cols, fk.ref_cols or parent.primary_key, strict=False
        ):
            child, ref = table.columns.get(child_name), parent.columns.get(parent_name)
            if child is None or ref is None:
                continue  # LMS402 names the missing column
            if (
                child.type_name in TEXT_TYPES | BLOB_TYPES
                or ref.type_name in TEXT_TYPES | BLOB_TYPES
            ):
                why = "TEXT/BLOB columns cannot be in a foreign key"
            else:
                why = same_fk_type(child, ref, doc.target.mariadb)
            if why:
                yield finding(
                    "LMS502",
                    table.name,
                    f"foreign key {fk.name}: {table.name}."
                    f"{child_name} and {fk.ref_table}.{parent_name} are not "
                    f"compatible ({why})",
                    _where(table, fk),
                )


def check_parent_index(doc: Document) -> Iterator[Finding]:
    """LMS503: the referenced columns must be the leading columns of an index of the
    parent, in the same order (no prefix index)."""
    for table, fk in _foreign_keys(doc):
        parent = doc.tables.get(fk.ref_table)
        if parent is None or not parent.from_sql or not fk.ref_cols:
            continue
        if any(c not in parent.columns for c in fk.ref_cols):
            continue
        if not parent.has_index_on(fk.ref_cols):
            yield finding(
                "LMS503",
                table.name,
                f"foreign key {fk.name}: no index of "
                f"{fk.ref_table} starts with ({', '.join(fk.ref_cols)})",
                _where(table, fk),
            )


def check_set_null(doc: Document) -> Iterator[Finding]:
    """LMS504: SET NULL on a NOT NULL column; SET DEFAULT (InnoDB in MySQL 8 refuses it)."""
    for table, fk in _foreign_keys(doc):
        actions = (fk.on_delete, fk.on_update)
        if "SET NULL" in actions:
            strict = [c for c in fk.cols if c in table.columns and not table.columns[c].nullable]
            if strict:
                yield finding(
                    "LMS504",
                    table.name,
                    f"foreign key {fk.name}: SET NULL on NOT NULL column {', '.join(strict)}",
                    _where(table, fk),
                )
        if "SET DEFAULT" in actions and not doc.target.mariadb:
            yield finding(
                "LMS504",
                table.name,
                f"foreign key {fk.name}: InnoDB rejects SET DEFAULT (MySQL 8; MariaDB accepts it)",
                _where(table, fk),
            )


def check_inplace(doc: Document) -> Iterator[Finding]:
    """LMS504: ``ALTER TABLE ... ADD FOREIGN KEY ..., ALGORITHM=INPLACE`` with foreign key
    checks on: "ALGORITHM=INPLACE is supported when foreign_key_checks is disabled.
    Otherwise, only ALGORITHM=COPY is supported" (15.12.1)."""
    for table in doc.tables.values():
        orders = {fk.name: fk.order for fk in table.foreign_keys}
        for name, location in table.inplace_foreign_keys:
            if not doc.fk_checks_on(orders.get(name, -1)):
                continue
            yield finding(
                "LMS504",
                table.name,
                f"foreign key {name} added with ALGORITHM=INPLACE while FOREIGN_KEY_CHECKS=1; "
                "use ALGORITHM=COPY",
                location or table.source,
            )


def check_dependencies(doc: Document) -> Iterator[Finding]:
    """LMS506: dropping what a foreign key needs: its index or column (error 1553), or a
    parent table (error 1451/3730) while FOREIGN_KEY_CHECKS=1."""
    for table in doc.tables.values():
        for message, location in table.fk_problems:
            yield finding("LMS506", table.name, message, location or table.source)
    for dropped, location, names in doc.dropped_tables:
        if not doc.fk_checks_on(dropped):
            continue
        referrers = [
            f"{other.name}.{fk.name}"
            for other in doc.tables.values()
            if other.name not in names and other.created_at < dropped
            for fk in other.foreign_keys
            if fk.ref_table in names and 0 <= fk.order < dropped and not fk.inline
        ]
        if referrers:
            yield finding(
                "LMS506",
                "",
                f"cannot drop {', '.join(sorted(names))}: referenced by "
                f"foreign key {', '.join(referrers)}",
                location,
            )


def check_duplicate_names(doc: Document) -> Iterator[Finding]:
    """LMS505: a foreign key name used twice in one database (error 1826/121)."""
    seen: dict[str, str] = {}
    for table, fk in _foreign_keys(doc):
        if fk.name.startswith(f"fk_{table.name}_") and fk.inline:
            continue
        key = fk.name.lower()
        if key in seen:
            yield finding(
                "LMS505",
                table.name,
                f"duplicate foreign key name {fk.name!r} (also on {seen[key]})",
                _where(table, fk),
            )
        seen.setdefault(key, table.name)


CHECKS = (
    check_parent,
    check_columns,
    check_parent_index,
    check_set_null,
    check_inplace,
    check_dependencies,
    check_duplicate_names,
)
