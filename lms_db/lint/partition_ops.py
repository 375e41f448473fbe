"""ALTER TABLE's partition operations for lint's parser, and what the server refuses in
them (MySQL 8.0 manual 26.3 "Partition Management", MariaDB KB "Partition Maintenance"):
PARTITION BY / REMOVE PARTITIONING, ADD / DROP / COALESCE / REORGANIZE / EXCHANGE /
TRUNCATE... PARTITION."""

from __future__ import annotations

from dataclasses import replace

from lms_db.lint.ddl_tokens import Cursor
from lms_db.lint.partition_parser import parse_definitions, parse_partition_by
from lms_db.lint.schema import PartitionDef, TableDef

#: Operations that name existing partitions (``ALL`` allowed).
_NAMING_OPS = ("TRUNCATE", "ANALYZE", "CHECK", "OPTIMIZE", "REBUILD", "REPAIR", "DISCARD", "IMPORT")


def partition_action(cur: Cursor, tdef: TableDef, where: str, tables: dict[str, TableDef]) -> bool:
    """Apply a partition operation at ``cur`` to ``tdef``; False when it is none."""
    if cur.accept("PARTITION", "BY"):
        tdef.partition = parse_partition_by(cur, where)
    elif cur.accept("REMOVE", "PARTITIONING"):
        tdef.partition = None
    elif cur.accept("ADD", "PARTITION"):
        _add_partition(cur, tdef, where)
    elif cur.accept("DROP", "PARTITION"):
        _drop_partition(cur, tdef, where)
    elif cur.accept("COALESCE", "PARTITION"):
        _coalesce(cur, tdef, where)
    elif cur.accept("REORGANIZE", "PARTITION"):
        _reorganize(cur, tdef, where)
    elif cur.accept("EXCHANGE", "PARTITION"):
        _exchange(cur, tdef, where, tables)
    elif any(cur.at(op, "PARTITION") for op in _NAMING_OPS):
        cur.pos += 2
        part = _managed(tdef, where)
        names = _names(cur)
        if part is not None and names != ["all"]:
            _require(tdef, part, names, where)
    else:
        return False
    return True


def _names(cur: Cursor) -> list[str]:
    names = [cur.name()]
    while cur.at(",") and (tok := cur.peek(1)) is not None and tok.is_name and not _is_action(cur):
        cur.pos += 1
        names.append(cur.name())
    return names


def _is_action(cur: Cursor) -> bool:
    tok = cur.peek(1)
    return tok is not None and tok.upper in ("ADD", "DROP", "ENGINE", "COALESCE", "REORGANIZE")


def _managed(tdef: TableDef, where: str) -> PartitionDef | None:
    part = tdef.partition
    if part is None:
        tdef.alter_problems.append(
            ("partition management on a table that is not partitioned", where)
        )
        return None
    return part if part.parsed else None


def _require(tdef: TableDef, part: PartitionDef, names: list[str], where: str) -> bool:
    known = {e.name.lower() for e in part.partitions}
    if not part.partitions and part.count:  # unnamed HASH/KEY partitions are p0, p1...
        known = {f"p{i}" for i in range(part.count)}
    missing = [n for n in names if n.lower() not in known]
    if missing:
        tdef.alter_problems.append((f"no partition named {', '.join(missing)}", where))
    return not missing


def _add_partition(cur: Cursor, tdef: TableDef, where: str) -> None:
    lenient = cur.accept("IF", "NOT", "EXISTS")  # MariaDB: a clash is a note, not an error
    part = _managed(tdef, where)
    if cur.accept("PARTITIONS"):
        count = cur.integer()
        if part is not None and part.kind.startswith(("RANGE", "LIST")):
            tdef.alter_problems.append((f"{part.kind} partitions must each be defined", where))
        elif part is not None:
            part.count = (part.count or len(part.partitions) or 1) + count
        return
    entries = parse_definitions(cur)
    if part is None:
        return
    if lenient:
        taken = {e.name.lower() for e in part.partitions}
        entries = [e for e in entries if e.name.lower() not in taken]
        if not entries:
            return
    if part.kind.startswith(("RANGE", "LIST")):
        part.partitions = part.partitions + tuple(entries)
    else:
        total = (part.count or len(part.partitions) or 1) + len(entries)
        known = part.partitions or tuple(
            replace(entries[0], name=f"p{i}") for i in range(part.count or 1)
        )
        part.partitions, part.count = known + tuple(entries), total


def _drop_partition(cur: Cursor, tdef: TableDef, where: str) -> None:
    lenient = cur.accept("IF", "EXISTS")  # MariaDB: a missing partition is a note
    part = _managed(tdef, where)
    names = _names(cur)
    if part is None:
        return
    if lenient:
        known = {e.name.lower() for e in part.partitions}
        names = [n for n in names if n.lower() in known]
        if not names:
            return
    if not part.kind.startswith(("RANGE", "LIST")):
        tdef.alter_problems.append(
            ("DROP PARTITION can only be used on RANGE/LIST partitions", where)
        )
        return
    if not _require(tdef, part, names, where):
        return
    left = tuple(e for e in part.partitions if e.name.lower() not in {n.lower() for n in names})
    if not left:
        tdef.alter_problems.append(("cannot remove all partitions; use DROP TABLE instead", where))
        return
    part.partitions = left


def _coalesce(cur: Cursor, tdef: TableDef, where: str) -> None:
    part = _managed(tdef, where)
    count = cur.integer()
    if part is None:
        return
    if not part.kind.startswith(("HASH", "KEY")):
        tdef.alter_problems.append(
            ("COALESCE PARTITION can only be used on HASH/KEY partitions", where)
        )
        return
    current = part.count or len(part.partitions) or 1
    if count >= current:
        tdef.alter_problems.append(("cannot remove all partitions; use DROP TABLE instead", where))
    elif part.partitions:
        part.partitions, part.count = part.partitions[: current - count], current - count
    else:
        part.count = current - count


def _reorganize(cur: Cursor, tdef: TableDef, where: str) -> None:
    part = _managed(tdef, where)
    names = _names(cur) if not cur.at("INTO") else []
    cur.expect("INTO")
    entries = parse_definitions(cur)
    if part is None or not part.partitions or not names:
        return
    if not _require(tdef, part, names, where):
        return
    dropped = {n.lower() for n in names}
    first = next(i for i, e in enumerate(part.partitions) if e.name.lower() in dropped)
    kept = [e for e in part.partitions if e.name.lower() not in dropped]
    part.partitions = tuple(kept[:first] + entries + kept[first:])
    if part.count is not None:
        part.count = len(part.partitions)


def _exchange(cur: Cursor, tdef: TableDef, where: str, tables: dict[str, TableDef]) -> None:
    """``EXCHANGE PARTITION p WITH TABLE nt``: the conditions of 26.3.3."""
    part = _managed(tdef, where)
    name = cur.name()
    cur.expect("WITH", "TABLE")
    other_name = cur.name()
    cur.skip_to_item_end()
    if part is None or not _require(tdef, part, [name], where):
        return
    other = tables.get(other_name)
    problems: list[str] = []
    if any(e.subpartitions for e in part.partitions) or part.sub_kind:
        problems.append("a subpartitioned table's partitions cannot be exchanged")
    if other is None:
        problems.append(f"table {other_name} does not exist")
    elif other.partition is not None:
        problems.append(f"table {other_name} is itself partitioned")
    elif other.temporary:
        problems.append(f"table {other_name} is a temporary table")
    elif _shape(other) != _shape(tdef):
        problems.append(f"tables {tdef.name} and {other_name} have different definitions")
    elif other.foreign_keys or any(
        fk.ref_table == other_name for t in tables.values() for fk in t.foreign_keys
    ):
        problems.append(f"table {other_name} has or is referenced by foreign keys")
    tdef.alter_problems += [(f"EXCHANGE PARTITION {name}: {p}", where) for p in problems]


def _shape(tdef: TableDef) -> tuple[object, ...]:
    """What EXCHANGE PARTITION compares: columns and keys, not partitioning or names."""
    columns = tuple(
        (n, c.type_name, c.length, c.scale, c.unsigned, c.nullable, c.charset, c.generated)
        for n, c in tdef.columns.items()
    )
    keys = sorted((i.kind, tuple((p.column, p.length) for p in i.parts)) for i in tdef.indexes)
    uniques = sorted(tuple((p.column, p.length) for p in u.parts) for u in tdef.uniques)
    return columns, tdef.primary_key, tuple(keys), tuple(uniques), tdef.engine or "INNODB"
