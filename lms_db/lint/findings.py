"""Lint rules and findings: the stable rule ids, their names and the finding value."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]

#: Severities from the most to the least serious (sort order of the report).
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Rule:
    """A lint rule.

    :param id: stable id (``LMS101``); never reused for another rule.
    :param name: short kebab-case name (``partition-key-not-in-unique-key``).
    :param severity: default severity of its findings.
    :param description: one sentence saying what it catches and why it matters.
    """

    id: str
    name: str
    severity: Severity
    description: str


@dataclass(frozen=True)
class Finding:
    """One problem found by a rule.

    :param rule: the rule id (``LMS101``).
    :param severity: ``error``, ``warning`` or ``info``.
    :param table: the table concerned (empty for statements that name none).
    :param message: what is wrong, in one sentence.
    :param location: ``file:line`` of the source, or ``model`` for the SQLAlchemy models.
    """

    rule: str
    severity: Severity
    table: str
    message: str
    location: str

    @property
    def name(self) -> str:
        """The rule's short name."""
        return RULES[self.rule].name

    def to_dict(self) -> dict[str, Any]:
        """The finding as plain data (``--json``)."""
        return {**asdict(self), "name": self.name}


_RULE_LIST = (
    Rule(
        "LMS101",
        "partition-key-not-in-unique-key",
        "error",
        "Every unique key, the primary key included, must contain every column of the "
        "partitioning expression (MySQL/MariaDB partitioning limit).",
    ),
    Rule(
        "LMS102",
        "foreign-key-on-partitioned-table",
        "error",
        "A partitioned InnoDB table can neither have foreign keys nor be referenced by one.",
    ),
    Rule(
        "LMS103",
        "timestamp-partition-function",
        "error",
        "On a TIMESTAMP column the only partitioning function allowed is UNIX_TIMESTAMP().",
    ),
    Rule(
        "LMS104",
        "fulltext-on-partitioned-table",
        "error",
        "A partitioned InnoDB table cannot carry FULLTEXT indexes.",
    ),
    Rule(
        "LMS201",
        "redundant-index",
        "warning",
        "An index whose columns are a leading prefix of another index, unique key or the "
        "primary key of the same table only costs writes and space.",
    ),
    Rule(
        "LMS202",
        "foreign-key-without-index",
        "warning",
        "Foreign key columns should be the leading columns of an index, unique key or the "
        "primary key (InnoDB would add a hidden one).",
    ),
    Rule(
        "LMS301",
        "cross-keyspace-foreign-key",
        "error",
        "A foreign key cannot join tables of different keyspaces: their rows live on "
        "different servers; declare a logical reference checked by `lmsdb check refs`.",
    ),
    Rule(
        "LMS401",
        "not-mysql8-syntax",
        "error",
        "A statement that MySQL 8 does not accept (PostgreSQL-only syntax or types, "
        "materialized views, policies, configuration lines, unparseable SQL).",
    ),
    Rule(
        "LMS402",
        "unknown-column-reference",
        "error",
        "A query, index or key names a column its table does not have.",
    ),
)

#: Every rule by id, in id order.
RULES: dict[str, Rule] = {rule.id: rule for rule in _RULE_LIST}


def finding(
    rule_id: str, table: str, message: str, location: str, severity: Severity | None = None
) -> Finding:
    """Build a finding at the rule's default severity unless ``severity`` is given."""
    return Finding(rule_id, severity or RULES[rule_id].severity, table, message, location)
