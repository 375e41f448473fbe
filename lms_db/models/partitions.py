"""Partition schemes as values, and their rendering for each dialect.

A :class:`PartitionSpec` is attached to a table as ``info["partition"]``.  It is rendered
only when ``applied`` is true (or the caller opts in by table name): a seed scheme that
would break an invariant on a dialect stays a declared spec that ``lmsdb schema lint``
reports (see docs/decisions.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PartitionKind = Literal["RANGE", "LIST COLUMNS", "HASH"]


@dataclass(frozen=True)
class Partition:
    """One partition: ``name`` and its bound.

    :param name: partition name (``p2024``).
    :param less_than: RANGE upper bound as SQL text (``2025``, ``MAXVALUE``, a timestamp).
    :param values: LIST values.
    """

    name: str
    less_than: str | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class PartitionSpec:
    """A declarative partition scheme.

    :param kind: RANGE, LIST COLUMNS or HASH.
    :param expression: MySQL partitioning expression (``YEAR(created_at)``, ``status``).
    :param columns: the table columns the expression reads (what unique keys must contain).
    :param partitions: the partitions (empty for HASH).
    :param hash_partitions: partition count for HASH.
    :param applied: render it by default; false keeps it declared only.
    :param reason: why it is (not) applied; shown by lint and the docs.
    :param postgresql_expression: PostgreSQL ``PARTITION BY`` key when it differs.
    """

    kind: PartitionKind
    expression: str
    columns: tuple[str, ...]
    partitions: tuple[Partition, ...] = ()
    hash_partitions: int = 0
    applied: bool = False
    reason: str = ""
    postgresql_expression: str | None = None
    source: str = field(default="seed")


def yearly_range(expression: str, column: str, years: range, *, reason: str) -> PartitionSpec:
    """The seed's ``RANGE (YEAR(col))`` scheme: one partition per year and ``p_future``."""
    parts = tuple(Partition(f"p{y}", str(y + 1)) for y in years)
    return PartitionSpec(
        kind="RANGE",
        expression=expression,
        columns=(column,),
        partitions=(*parts, Partition("p_future", "MAXVALUE")),
        applied=False,
        reason=reason,
    )
