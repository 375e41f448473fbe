"""LMS4xx: statements MySQL 8 does not accept, and references to columns that do not exist."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlglot import exp

from lms_db.lint.findings import Finding, finding
from lms_db.lint.from_sql import raw_type, table_name
from lms_db.lint.schema import Document, Statement
from lms_db.lint.sources import mask
from lms_db.lint.target_rules import unknown_types

_NAME = r"((?:`[^`]+`|[\w$]+)(?:\s*\.\s*(?:`[^`]+`|[\w$]+))?)"

#: (pattern on the comment-free statement, why MySQL 8 refuses it).
_NOT_MYSQL: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?MATERIALIZED\s+VIEW\s+{_NAME}", re.I),
        "MySQL has no materialized views (CREATE MATERIALIZED VIEW); emulate it with a backing "
        "table refreshed into a shadow copy and swapped in by RENAME TABLE",
    ),
    (
        re.compile(rf"^\s*REFRESH\s+MATERIALIZED\s+VIEW\s+(?:CONCURRENTLY\s+)?{_NAME}", re.I),
        "MySQL has no REFRESH MATERIALIZED VIEW; refresh the emulated view's backing table",
    ),
    (
        re.compile(rf"^\s*(?:CREATE|ALTER|DROP)\s+POLICY\s+\S+\s+ON\s+{_NAME}", re.I),
        "MySQL has no row-level security (CREATE POLICY); enforce it in views or the application",
    ),
    (
        re.compile(rf"^\s*ALTER\s+TABLE\s+{_NAME}\s+(?:ENABLE|FORCE)\s+ROW\s+LEVEL", re.I),
        "MySQL has no row-level security (ROW LEVEL SECURITY)",
    ),
    (
        re.compile(
            rf"^\s*(?:ALTER|CREATE)\s+TABLE\s+{_NAME}[^;]*?\bENCRYPTED\b(?!\s*=)", re.I | re.S
        ),
        "column-level ENCRYPTED is not MySQL syntax (MODIFY COLUMN ... ENCRYPTED); use InnoDB "
        "encryption at rest (ENCRYPTION='Y') or encrypt in the application",
    ),
    (
        re.compile(r"^\s*\[[A-Za-z_][\w.-]*\]"),
        "option-file lines ([mysqld] key=value) are server configuration for my.cnf, not SQL",
    ),
)

#: MySQL 8 statements that sqlglot reads only as an opaque command.
_KNOWN_COMMANDS = re.compile(
    r"^\s*(?:ALTER\s+INSTANCE|ALTER\s+TABLE\s+\S+\s+(?:ADD|DROP|REORGANIZE|EXCHANGE|TRUNCATE"
    r"|COALESCE|REBUILD|OPTIMIZE|ANALYZE|CHECK|REPAIR|REMOVE|DISCARD|IMPORT)\s+PARTITION(?:ING|S)?"
    r"|FLUSH|PURGE|CHANGE\s+(?:MASTER|REPLICATION)|START\s+(?:SLAVE|REPLICA|GROUP_REPLICATION)"
    r"|STOP\s+(?:SLAVE|REPLICA)|RESET|LOCK\s+INSTANCE|UNLOCK\s+INSTANCE|GRANT|REVOKE"
    r"|(?:CREATE|ALTER|DROP|RENAME)\s+USER|CREATE\s+(?:DEFINER|TRIGGER|PROCEDURE|FUNCTION|EVENT)"
    r"|KILL|INSTALL|UNINSTALL|HANDLER|LOAD\s+(?:DATA|INDEX)|DELIMITER|XA|CHECKSUM|OPTIMIZE"
    r"|REPAIR|ANALYZE\s+TABLE|CHECK\s+TABLE|SHUTDOWN|RESTART|CLONE|IMPORT\s+TABLE"
    r"|(?:UN)?LOCK\s+TABLES|CALL|RENAME\s+TABLE|REPLACE|PREPARE|EXECUTE|DEALLOCATE|DO"
    r")\b",
    re.I,
)

#: Queries and session statements: unparseable ones are warnings, not errors.
_QUERY = re.compile(
    r"^\s*\(?\s*(?:SELECT|WITH|INSERT|REPLACE|UPDATE|DELETE|EXPLAIN|DESCRIBE|DESC|SHOW|SET|CALL|DO"
    r"|VALUES|TABLE|HANDLER|LOAD)\b",
    re.I,
)

#: What sqlglot returns for a statement (anything else is a bare expression: not SQL).
_STATEMENT_TYPES: tuple[type, ...] = tuple(
    cls
    for cls in (
        getattr(exp, name, None)
        for name in (
            "Query",
            "DDL",
            "DML",
            "Command",
            "Set",
            "Use",
            "Describe",
            "Show",
            "Transaction",
            "Commit",
            "Rollback",
            "Alter",
            "Drop",
            "Grant",
            "Revoke",
            "Analyze",
            "LoadData",
            "Kill",
            "Pragma",
            "Refresh",
            "Execute",
            "TruncateTable",
            "Lock",
            "Comment",
            "Declare",
        )
    )
    if isinstance(cls, type)
)

# fmt: off
#: Column types of PostgreSQL (and MariaDB's UUID) that MySQL 8 does not have.
POSTGRES_TYPES = frozenset({
    "TIMESTAMPTZ", "TIMETZ", "JSONB", "INET", "CIDR", "MACADDR", "MACADDR8", "BYTEA",
    "SMALLSERIAL", "BIGSERIAL", "UUID", "TSVECTOR", "TSQUERY", "CITEXT", "HSTORE", "MONEY",
    "INTERVAL", "INT4RANGE", "INT8RANGE", "TSRANGE", "TSTZRANGE", "DATERANGE", "REGCLASS",
})

#: Functions of PostgreSQL/TimescaleDB that MySQL 8 does not have.
POSTGRES_FUNCTIONS = frozenset({
    "CREATE_HYPERTABLE", "TIME_BUCKET", "ADD_RETENTION_POLICY", "ADD_COMPRESSION_POLICY",
    "ADD_CONTINUOUS_AGGREGATE_POLICY", "SET_CHUNK_TIME_INTERVAL", "TO_TSVECTOR", "TO_TSQUERY",
    "PLAINTO_TSQUERY", "GENERATE_SERIES", "NEXTVAL", "CURRVAL", "SETVAL",
})
# fmt: on


def _head(masked: str) -> str:
    """The start of a statement, on one line, for messages."""
    return " ".join(masked.split())[:60]


def _statement_table(stmt: Statement, masked: str) -> str:
    if stmt.tree is not None:
        table = stmt.tree.find(exp.Table)
        if table is not None and table.name:
            return table_name(table.name)
        for func in stmt.tree.find_all(exp.Anonymous):  # create_hypertable('t', 'time')
            first = func.expressions[0] if func.expressions else None
            if isinstance(first, exp.Literal) and first.is_string:
                return table_name(first.this)
    match = re.search(rf"\b(?:TABLE|VIEW|ON)\s+{_NAME}", masked, re.I)
    return table_name(stmt.text[match.start(1) : match.end(1)]) if match else ""


def _not_mysql_reasons(doc: Document, stmt: Statement, masked: str) -> list[str]:
    reasons = [why for pattern, why in _NOT_MYSQL if pattern.search(masked)]
    if reasons:
        return reasons
    if stmt.understood:  # lint's own DDL parser read it: only the column types remain
        odd = unknown_types(doc, stmt.location)
        label = doc.target.label
        return [f"column types {label} does not have: {', '.join(odd)}"] if odd else []
    tree = stmt.tree
    if tree is None and stmt.error and not _KNOWN_COMMANDS.match(masked):
        return [f"sqlglot cannot parse it as MySQL: {stmt.error}"]
    if tree is None:
        return []
    if not isinstance(tree, _STATEMENT_TYPES):
        return [f"not a SQL statement: sqlglot reads {_head(masked)!r} as a bare expression"]
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema):
        pg = [
            f"{raw_type(stmt.text, col)} ({col.name})"
            for col in tree.find_all(exp.ColumnDef)
            if raw_type(stmt.text, col) in POSTGRES_TYPES
        ]
        if pg:
            reasons.append(f"column types MySQL 8 does not have: {', '.join(pg)}")
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index):
        params = tree.this.args.get("params")
        if params is not None and params.args.get("where") is not None:
            reasons.append("partial index (CREATE INDEX ... WHERE) is PostgreSQL-only")
    for func in tree.find_all(exp.Anonymous):
        if str(func.this).upper() in POSTGRES_FUNCTIONS:
            reasons.append(f"{str(func.this).lower()}() is a PostgreSQL/TimescaleDB function")
    return reasons


def check_mysql8_syntax(doc: Document) -> Iterator[Finding]:
    """LMS401: statements MySQL 8 does not accept."""
    for stmt in doc.statements:
        masked = mask(stmt.text)
        reasons = _not_mysql_reasons(doc, stmt, masked)
        # a query sqlglot cannot read is not a schema problem: the server may well take it
        soft = stmt.tree is None and _QUERY.match(masked) is not None
        for reason in reasons:
            table = _statement_table(stmt, masked)
            if soft:
                reason += "; check it on a server (--dev-url)"
            yield finding("LMS401", table, reason, stmt.location, "warning" if soft else None)
        opaque = isinstance(stmt.tree, exp.Command) and not stmt.understood
        if not reasons and opaque and not _KNOWN_COMMANDS.match(masked):
            yield finding(
                "LMS401",
                _statement_table(stmt, masked),
                f"sqlglot reads {_head(masked)!r} only as an opaque command: check it against "
                "MySQL 8",
                stmt.location,
                "warning",
            )


def check_unknown_columns(doc: Document) -> Iterator[Finding]:
    """LMS402: ``alias.column`` in queries, and key/index columns, that do not exist."""
    for stmt in doc.statements:
        tree = stmt.tree
        if (
            tree is None
            or (isinstance(tree, exp.Create) and not isinstance(tree.this, exp.Table))
            or isinstance(tree, exp.Alter)
        ):
            continue  # tables and indexes are checked below, from the table description
        yield from _query_columns(doc, stmt, tree)
    for table in doc.tables.values():
        if table.source == "model" or not table.columns:
            continue
        named = [(f"index {i.name}", i.cols, i.location) for i in table.indexes]
        named += [(f"unique key {u.name}", u.cols, u.location) for u in table.uniques]
        named += [(f"foreign key {f.name}", f.cols, f.location) for f in table.foreign_keys]
        named.append(("primary key", table.primary_key, table.pk_location))
        for what, cols, location in named:
            for col in cols:
                if col not in table.columns:
                    yield finding(
                        "LMS402",
                        table.name,
                        f"{what} names column {col}, which {table.name} does not have",
                        location or table.source,
                    )
        for fk in table.foreign_keys:
            target = doc.tables.get(fk.ref_table)
            known = target.columns if target is not None else {}
            for col in fk.ref_cols:
                if known and col not in known:
                    yield finding(
                        "LMS402",
                        table.name,
                        f"foreign key {fk.name} refers to {fk.ref_table}.{col}, "
                        f"which {fk.ref_table} does not have",
                        fk.location,
                    )


def _query_columns(doc: Document, stmt: Statement, tree: exp.Expression) -> Iterator[Finding]:
    aliases: dict[str, set[str]] = {}
    for table in tree.find_all(exp.Table):
        name = table_name(table.name)
        aliases.setdefault(table.alias_or_name.lower(), set()).add(name)
    for column in tree.find_all(exp.Column):
        qualifier = column.table.lower()
        if not qualifier or isinstance(column.this, exp.Star):
            continue
        targets = aliases.get(qualifier, set())
        target = doc.tables.get(next(iter(targets))) if len(targets) == 1 else None
        if target is None or not target.columns or column.name.lower() in target.columns:
            continue
        line = column.this.meta.get("line") if isinstance(column.this, exp.Identifier) else None
        where = stmt.location_at(line) if isinstance(line, int) else stmt.location
        yield finding(
            "LMS402",
            target.name,
            f"{column.table}.{column.name}: {target.name} (alias {column.table}) has "
            f"no column {column.name}",
            where,
        )


CHECKS = (check_mysql8_syntax, check_unknown_columns)
