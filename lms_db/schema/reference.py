"""The schema reference (docs/schema.md), generated from the models.

Tables grouped by keyspace, each with its shard key, columns, indexes, constraints,
logical references, partition scheme and the seed indexes left out as redundant.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from lms_db.dialects.facts import renders_on
from lms_db.models import analytics_metadata, metadata
from lms_db.models.base import KEYSPACES
from lms_db.models.partitions import PartitionSpec

KEYSPACE_NOTES = {
    "user": "range-sharded by user id: a user's rows live on the shard owning that id.",
    "course": "range-sharded by course id: a course and its content live together.",
    "global": "small reference tables, a full copy on every shard.",
    "analytics": "the analytics database (PostgreSQL; TimescaleDB when present).",
}


def _type(column: sa.Column[object]) -> str:
    try:
        return str(column.type.compile(dialect=mysql.dialect()))
    except sa.exc.CompileError:
        return str(column.type)


def _column_line(column: sa.Column[object]) -> str:
    default = column.server_default
    default_text = ""
    if default is not None:
        arg = getattr(default, "arg", None)
        default_text = str(getattr(arg, "text", arg))
    refs = [f"→ {fk.target_fullname}" for fk in column.foreign_keys]
    if column.info.get("logical_ref"):
        refs.append(f"⇢ {column.info['logical_ref']} (logical)")
    null = "" if column.nullable else "NOT NULL"
    pk = "PK" if column.primary_key else ""
    extra = " ON UPDATE CURRENT_TIMESTAMP" if column.info.get("on_update_now") else ""
    cells = [
        f"`{column.name}`",
        f"`{_type(column)}`",
        " ".join(x for x in (pk, null) if x),
        f"`{default_text}{extra}`" if default_text else "",
        " ".join(refs),
    ]
    return "| " + " | ".join(cells) + " |"


def _index_lines(table: sa.Table) -> list[str]:
    lines = []
    for cons in sorted(table.constraints, key=lambda c: str(c.name)):
        if isinstance(cons, sa.UniqueConstraint):
            cols = ", ".join(c.name for c in cons.columns)
            lines.append(f"- UNIQUE `{cons.name}` ({cols})")
        elif isinstance(cons, sa.CheckConstraint) and not getattr(cons, "_type_bound", False):
            lines.append(f"- CHECK `{cons.name}`: `{cons.sqltext}`")
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        if index.info.get("fulltext") and not renders_on(index, "mysql"):
            continue  # the PostgreSQL twin (GIN) of a FULLTEXT index: noted on the MySQL one
        kind = "FULLTEXT " if index.info.get("fulltext") else ("UNIQUE " if index.unique else "")
        cols = ", ".join(str(e).replace(f"{table.name}.", "") for e in index.expressions)
        note = " (GIN tsvector on PostgreSQL, none on SQLite)" if index.info.get("fulltext") else ""
        lines.append(f"- {kind}INDEX `{index.name}` ({cols}){note}")
    for seed_name, why in sorted(table.info.get("redundant_seed_indexes", {}).items()):
        lines.append(f"- ~~seed `{seed_name}`~~ not created: served by {why}")
    return lines


def _partition_line(spec: PartitionSpec | None) -> str:
    if spec is None:
        return "none"
    state = "applied" if spec.applied else "declared, not applied"
    names = ", ".join(p.name for p in spec.partitions) or "created by lmsdb"
    return f"{spec.kind} ({spec.expression}) [{names}]: **{state}**. {spec.reason}"


def render_reference() -> str:
    """docs/schema.md as text."""
    tables = [*metadata.sorted_tables, *analytics_metadata.sorted_tables]
    out = [
        "# Schema reference",
        "",
        "Generated from the models by `lmsdb schema docs --write`; do not edit by hand.",
        "Types are shown as MySQL renders them; `→` is a foreign key, `⇢` a logical",
        "reference across keyspaces (no FK; checked by `lmsdb check refs`).",
        "",
    ]
    for keyspace in KEYSPACES:
        group = sorted(
            (t for t in tables if t.info.get("keyspace") == keyspace), key=lambda t: t.name
        )
        out += [f"## Keyspace `{keyspace}`", "", KEYSPACE_NOTES[keyspace], ""]
        for table in group:
            kind = " (materialized view)" if table.info.get("is_view") else ""
            out += [f"### `{table.name}`{kind}", ""]
            shard_key = table.info.get("shard_key")
            via = table.info.get("shard_via")
            if shard_key:
                out.append(f"Shard key: `{shard_key}`.")
            elif via:
                out.append(f"Placed with its parent: `{via[0]}` → `{via[1]}`.")
            out += [
                f"Partitioning: {_partition_line(table.info.get('partition'))}",
                "",
                "| column | type | null/key | default | references |",
                "| --- | --- | --- | --- | --- |",
            ]
            out += [_column_line(c) for c in table.columns]
            out += ["", *_index_lines(table), ""]
    return "\n".join(out).rstrip() + "\n"
