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
        "LMS105",
        "partition-function-not-allowed",
        "error",
        "A partitioning expression may use only the permitted functions and +, -, *, DIV, "
        "MOD; no /, bit operators, variables, constants or non-integer results.",
    ),
    Rule(
        "LMS106",
        "partition-column-type",
        "error",
        "A column type the partitioning type cannot read: non-integer columns in RANGE/LIST/"
        "HASH expressions, COLUMNS outside integers/DATE/DATETIME/CHAR/VARCHAR/BINARY/"
        "VARBINARY, TEXT/BLOB/JSON in KEY, more than 16 COLUMNS.",
    ),
    Rule(
        "LMS107",
        "partition-definition",
        "error",
        "Partition definitions that do not fit the type: RANGE/LIST without definitions, "
        "VALUES of the wrong kind, MAXVALUE not last, values not strictly increasing, a LIST "
        "value repeated, wrong value counts or types, duplicate names, PARTITIONS n mismatch.",
    ),
    Rule(
        "LMS108",
        "subpartition-definition",
        "error",
        "Subpartitioning needs RANGE or LIST partitions, HASH or KEY subpartitions, and the "
        "same number of subpartitions in every partition.",
    ),
    Rule(
        "LMS109",
        "table-cannot-be-partitioned",
        "error",
        "TEMPORARY tables, tables with spatial columns, partitions mixing storage engines and "
        "(MySQL 8) engines other than InnoDB/NDB cannot be partitioned.",
    ),
    Rule(
        "LMS110",
        "key-partitioning-without-key",
        "error",
        "PARTITION BY KEY() with no column uses the primary key (else a NOT NULL unique key); "
        "a table with neither is refused.",
    ),
    Rule(
        "LMS111",
        "partition-management",
        "error",
        "ALTER TABLE partition operations the server refuses: on an unpartitioned table, "
        "DROP PARTITION on HASH/KEY, COALESCE on RANGE/LIST, removing every partition, "
        "naming a partition that does not exist.",
    ),
    Rule(
        "LMS112",
        "no-partition-for-row",
        "error",
        "An INSERT row no partition holds (RANGE without MAXVALUE, a LIST value or NULL not "
        "listed), a row outside the selected partitions, PARTITION (...) naming an unknown "
        "partition or on an unpartitioned table.",
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
        "LMS203",
        "duplicate-key-name",
        "error",
        "Two indexes of a table share a name, or a table declares two primary keys.",
    ),
    Rule(
        "LMS204",
        "duplicate-column-in-index",
        "error",
        "An index names the same column twice.",
    ),
    Rule(
        "LMS205",
        "bad-prefix-length",
        "error",
        "A prefix length on a non-string column, longer than the column, 0, or on a SPATIAL "
        "key part.",
    ),
    Rule(
        "LMS206",
        "blob-key-without-length",
        "error",
        "A TEXT/BLOB (or JSON) column in a key without a prefix length (MySQL 8 always; "
        "MariaDB in a PRIMARY KEY or a multi-column plain index).",
    ),
    Rule(
        "LMS207",
        "key-too-long",
        "error",
        "A key longer than InnoDB's 3072 bytes (MariaDB shortens a one-column index and "
        "hashes a long UNIQUE key instead).",
    ),
    Rule(
        "LMS208",
        "too-many-key-parts",
        "error",
        "More key parts than the server allows (MySQL 16, MariaDB 32).",
    ),
    Rule(
        "LMS209",
        "fulltext-or-spatial-column",
        "error",
        "FULLTEXT on a non-text column; SPATIAL on a non-geometry, nullable or second column.",
    ),
    Rule(
        "LMS210",
        "auto-increment-not-key",
        "error",
        "A table has one AUTO_INCREMENT column at most and it must lead an index.",
    ),
    Rule(
        "LMS211",
        "functional-key-part",
        "error",
        "MySQL 8 functional key parts must be parenthesized expressions, not a bare column, "
        "deterministic, not JSON/long text (CAST them), not in a PRIMARY, SPATIAL or "
        "FULLTEXT key, and not refer to an AUTO_INCREMENT column.",
    ),
    Rule(
        "LMS212",
        "generated-column-key",
        "error",
        "A PRIMARY KEY on a generated column (MySQL: VIRTUAL ones; MariaDB: any); foreign "
        "keys with CASCADE/SET NULL on stored generated columns or their base columns "
        "(MySQL), or referencing a virtual generated column (MySQL).",
    ),
    Rule(
        "LMS213",
        "hidden-primary-key",
        "error",
        "The primary key (or the NOT NULL unique key that stands in for it) cannot be "
        "INVISIBLE (MySQL 8) or IGNORED (MariaDB).",
    ),
    Rule(
        "LMS214",
        "null-primary-key-column",
        "error",
        "MySQL 8: a primary key column declared NULL (MariaDB silently makes it NOT NULL).",
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
    Rule(
        "LMS403",
        "bad-column-definition",
        "error",
        "A column the server refuses: a duplicate name, VARCHAR/VARBINARY without a length or "
        "over 65535 bytes, CHAR/BINARY over 255, DECIMAL over (65,30), BIT over 64, "
        "fractional seconds over 6, duplicate ENUM/SET values, a row over 65535 bytes.",
    ),
    Rule(
        "LMS404",
        "storage-engine",
        "error",
        "A storage engine the target does not have (MariaDB 10.11 without plugins: no "
        "ARCHIVE, BLACKHOLE, FEDERATED), or a CSV table with nullable columns or indexes.",
    ),
    Rule(
        "LMS501",
        "foreign-key-parent-missing",
        "error",
        "The referenced table does not exist (yet) with FOREIGN_KEY_CHECKS on, or a "
        "TEMPORARY table has or is the target of a foreign key.",
    ),
    Rule(
        "LMS502",
        "foreign-key-type-mismatch",
        "error",
        "Foreign key and referenced columns differ in count, integer/DECIMAL size or sign, "
        "type family, or character set; TEXT/BLOB columns cannot be in a foreign key.",
    ),
    Rule(
        "LMS503",
        "foreign-key-parent-not-indexed",
        "error",
        "The referenced columns are not the leading columns, in order, of an index of the "
        "parent table.",
    ),
    Rule(
        "LMS504",
        "foreign-key-bad-action",
        "error",
        "SET NULL on a NOT NULL column; SET DEFAULT (refused by InnoDB in MySQL 8).",
    ),
    Rule(
        "LMS505",
        "duplicate-foreign-key-name",
        "error",
        "A foreign key name is used twice in one database.",
    ),
    Rule(
        "LMS506",
        "foreign-key-dependency",
        "error",
        "Dropping what a foreign key needs while FOREIGN_KEY_CHECKS=1: the index (or column) "
        "that serves it, or the parent table.",
    ),
    Rule(
        "LMS507",
        "foreign-key-violation",
        "error",
        "An inserted row whose foreign key value has no parent row, or a deleted parent row "
        "that RESTRICT children still reference (literal rows the input inserted), while "
        "FOREIGN_KEY_CHECKS=1.",
    ),
    Rule(
        "LMS601",
        "mariadb-only",
        "error",
        "MariaDB-only syntax on the mysql8 target: INET6/INET4/UUID types, IGNORED indexes, "
        "SEQUENCE, IF [NOT] EXISTS on columns and indexes, SYSTEM_TIME partitioning, "
        "system versioning, CREATE OR REPLACE TABLE.",
    ),
    Rule(
        "LMS602",
        "mysql8-only",
        "error",
        "MySQL 8-only syntax on the mariadb target: functional key parts, INVISIBLE indexes, "
        "utf8mb4_0900 collations, the SRID attribute.",
    ),
    Rule(
        "LMS901",
        "server-refused",
        "error",
        "--dev-url: the dev database server refused the statement (its error is the message).",
    ),
    Rule(
        "LMS902",
        "not-applied-outside-scratch",
        "warning",
        "--dev-url: the statement was not sent because it would act beyond the scratch "
        "database (USE, CREATE DATABASE, another database's tables, users, grants, globals).",
    ),
)

#: Every rule by id, in id order.
RULES: dict[str, Rule] = {rule.id: rule for rule in _RULE_LIST}


def finding(
    rule_id: str, table: str, message: str, location: str, severity: Severity | None = None
) -> Finding:
    """Build a finding at the rule's default severity unless ``severity`` is given."""
    return Finding(rule_id, severity or RULES[rule_id].severity, table, message, location)
