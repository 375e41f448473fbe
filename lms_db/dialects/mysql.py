"""MySQL 8 / MariaDB 10.11: ``ON UPDATE CURRENT_TIMESTAMP``, partition clauses, table swaps.

Everything rendered here stays in the subset both servers accept.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateColumn

from lms_db.dialects.facts import MYSQL_FAMILY, quote
from lms_db.models.partitions import PartitionSpec


@compiles(CreateColumn, *MYSQL_FAMILY)
def _create_column_on_update(element: CreateColumn, compiler: Any, **kw: Any) -> str:
    text: str = compiler.visit_create_column(element, **kw)
    if element.element.info.get("on_update_now"):
        text += " ON UPDATE CURRENT_TIMESTAMP"
    return text


def partition_clause(spec: PartitionSpec) -> str:
    """The ``PARTITION BY ...`` clause of a spec, as MySQL writes it."""
    if spec.kind == "HASH":
        return f"PARTITION BY HASH ({spec.expression}) PARTITIONS {spec.hash_partitions}"
    parts = []
    for p in spec.partitions:
        if spec.kind == "RANGE":
            bound = p.less_than if p.less_than == "MAXVALUE" else f"({p.less_than})"
            parts.append(f"    PARTITION {p.name} VALUES LESS THAN {bound}")
        else:
            values = ", ".join("'" + v.replace("'", "''") + "'" for v in p.values)
            parts.append(f"    PARTITION {p.name} VALUES IN ({values})")
    head = f"PARTITION BY {spec.kind} ({spec.expression})"
    return head + " (\n" + ",\n".join(parts) + "\n)"


def alter_partition(table: str, spec: PartitionSpec) -> str:
    """``ALTER TABLE t PARTITION BY ...`` (how the seed applies its schemes)."""
    return f"ALTER TABLE {quote('mysql', table)} {partition_clause(spec)}"


def rename_swap(live: str, shadow: str, old: str) -> str:
    """One atomic ``RENAME TABLE`` that puts ``shadow`` in place of ``live``."""
    live, shadow, old = (quote("mysql", name) for name in (live, shadow, old))
    return f"RENAME TABLE {live} TO {old}, {shadow} TO {live}"
