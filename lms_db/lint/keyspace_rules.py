"""LMS3xx: sharding rules (foreign keys live inside one keyspace)."""

from __future__ import annotations

from collections.abc import Iterator

from lms_db.lint.findings import Finding, finding
from lms_db.lint.schema import Document


def check_cross_keyspace(doc: Document) -> Iterator[Finding]:
    """LMS301: a foreign key whose two tables are in different keyspaces.

    ``global`` is a keyspace of its own: a global table is copied to every shard, but a
    foreign key to or from it would still tie rows that different servers own.
    """
    for table in doc.tables.values():
        here = doc.keyspace_of(table.name)
        if here is None:
            continue
        for fk in table.foreign_keys:
            there = doc.keyspace_of(fk.ref_table)
            if there is None or there == here:
                continue
            yield finding(
                "LMS301",
                table.name,
                f"foreign key {fk.name} {table.name}({', '.join(fk.cols)}) -> "
                f"{fk.ref_table}({', '.join(fk.ref_cols)}) crosses keyspaces {here} -> {there}: "
                "the rows live on different servers; declare a logical reference "
                "(checked by `lmsdb check refs`) instead",
                fk.location or table.source,
            )


CHECKS = (check_cross_keyspace,)
