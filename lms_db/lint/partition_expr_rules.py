"""LMS105-LMS106: partitioning expressions and the column types they may read.

MySQL 8.0 manual 26.6.3 "Partitioning Limitations Relating to Functions": only the listed
functions are permitted; +, -, * and DIV are, / and the bit operators are not; the
result must be an integer (except for KEY); 26.6: "stored procedures, stored functions,
loadable functions, or plugins, declared variables or user variables" are not permitted.
"""

from __future__ import annotations

from collections.abc import Iterator

from lms_db.lint.column_types import (
    BINARY_TYPES,
    BLOB_TYPES,
    CHAR_TYPES,
    INTEGER_TYPES,
    SPATIAL_TYPES,
    TEXT_TYPES,
)
from lms_db.lint.ddl_tokens import Token, tokenize
from lms_db.lint.findings import Finding, finding
from lms_db.lint.schema import Document, PartitionDef, TableDef

_DATE_ARG = frozenset({"DATE", "DATETIME"})
_TIME_ARG = frozenset({"TIME", "DATETIME"})
#: Permitted function -> the column types it may read (None: any exact number).
ALLOWED_FUNCTIONS: dict[str, frozenset[str] | None] = {
    "ABS": None,
    "CEILING": None,
    "CEIL": None,
    "FLOOR": None,
    "MOD": None,
    "DATEDIFF": _DATE_ARG,
    "DAY": _DATE_ARG,
    "DAYOFMONTH": _DATE_ARG,
    "DAYOFWEEK": _DATE_ARG,
    "DAYOFYEAR": _DATE_ARG,
    "MONTH": _DATE_ARG,
    "QUARTER": _DATE_ARG,
    "TO_DAYS": _DATE_ARG,
    "TO_SECONDS": _DATE_ARG,
    "WEEKDAY": _DATE_ARG,
    "YEAR": _DATE_ARG,
    "YEARWEEK": _DATE_ARG,
    "HOUR": _TIME_ARG,
    "MINUTE": _TIME_ARG,
    "SECOND": _TIME_ARG,
    "MICROSECOND": _TIME_ARG,
    "TIME_TO_SEC": _TIME_ARG,
    "EXTRACT": _DATE_ARG | _TIME_ARG,
    "UNIX_TIMESTAMP": frozenset({"TIMESTAMP"}),
}
_FORBIDDEN_OPERATORS = {"/": "/", "&": "&", "|": "|", "^": "^", "<<": "<<", ">>": ">>", "~": "~"}
#: COLUMNS partitioning: integer types, DATE, DATETIME, CHAR, VARCHAR, BINARY, VARBINARY.
COLUMNS_TYPES = INTEGER_TYPES | CHAR_TYPES | BINARY_TYPES | {"DATE", "DATETIME"}
#: Words of an expression that are not column names (operators, EXTRACT units, literals).
_EXPRESSION_WORDS = frozenset(
    {
        "DIV",
        "MOD",
        "AND",
        "OR",
        "XOR",
        "NOT",
        "IS",
        "NULL",
        "TRUE",
        "FALSE",
        "FROM",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
        "IN",
        "BETWEEN",
        "SELECT",
        "YEAR",
        "QUARTER",
        "MONTH",
        "WEEK",
        "DAY",
        "HOUR",
        "MINUTE",
        "SECOND",
        "MICROSECOND",
        "YEAR_MONTH",
        "DAY_HOUR",
        "DAY_MINUTE",
        "DAY_SECOND",
        "HOUR_MINUTE",
        "HOUR_SECOND",
        "MINUTE_SECOND",
        "DAY_MICROSECOND",
        "HOUR_MICROSECOND",
        "MINUTE_MICROSECOND",
        "SECOND_MICROSECOND",
    }
)
_EXACT = INTEGER_TYPES | {"DECIMAL", "YEAR", "BIT"}


def _expression_problems(
    table: TableDef, expression: str, mariadb: bool
) -> Iterator[tuple[str, str]]:
    """(rule, problem) pairs for a RANGE/LIST/HASH expression."""
    tokens = tokenize(expression)
    stack: list[str] = []  # enclosing function names ("" for plain parentheses)
    columns = 0
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.kind == "punct" and tok.text in _FORBIDDEN_OPERATORS:
            yield "LMS105", f"operator {tok.text} is not permitted in a partitioning expression"
        elif tok.kind == "punct" and tok.text == "(":
            prev = tokens[i - 1] if i else None
            stack.append(prev.upper if prev is not None and prev.kind == "word" else "")
        elif tok.kind == "punct" and tok.text == ")":
            stack.pop() if stack else None
        elif tok.kind == "string":
            if not (stack and stack[-1] == "DATEDIFF" and not mariadb):
                yield "LMS105", f"constant {tok.text} in a partitioning expression"
        elif tok.kind == "number" and not tok.text.isdigit():
            yield "LMS105", f"{tok.text} is not an integer: the expression must return one"
        elif tok.text.startswith("@"):
            yield "LMS105", f"variable {tok.text} in a partitioning expression"
        elif tok.kind == "word" and nxt is not None and nxt.text == "(":
            yield from _function(tok, tokens[i + 2] if i + 2 < len(tokens) else None, mariadb)
        elif tok.is_name and tok.text.lower() in table.columns:
            columns += 1
            yield from _column_use(table, tok, stack)
        elif tok.is_name and tok.upper not in _EXPRESSION_WORDS and not tok.text.startswith("@"):
            yield "LMS106", f"unknown column {tok.text} in the partitioning expression"
        elif tok.upper == "SELECT":
            yield "LMS105", "a subquery in a partitioning expression"
    if columns == 0:
        yield "LMS105", "the expression reads no column: constant expressions are not allowed"


def _function(tok: Token, first_arg: Token | None, mariadb: bool) -> Iterator[tuple[str, str]]:
    name = tok.upper
    if name not in ALLOWED_FUNCTIONS:
        yield "LMS105", f"{name}() is not a permitted partitioning function"
    elif name == "DATEDIFF" and mariadb:
        yield "LMS105", "MariaDB refuses DATEDIFF() in a partitioning expression"
    elif name == "EXTRACT" and first_arg is not None and first_arg.upper == "WEEK":
        yield "LMS105", "EXTRACT(WEEK ...) is not permitted (it depends on default_week_format)"


def _column_use(table: TableDef, tok: Token, stack: list[str]) -> Iterator[tuple[str, str]]:
    col = table.columns[tok.text.lower()]
    funcs = [f for f in stack if f]
    func = funcs[-1] if funcs else ""
    if func in ALLOWED_FUNCTIONS:
        wanted = ALLOWED_FUNCTIONS[func]
        if wanted is None and col.type_name not in _EXACT:
            yield (
                "LMS106",
                f"{func}() of {col.type_name} column {tok.text} does not return an integer",
            )
        elif wanted is not None and col.type_name not in wanted and col.type_name != "TIMESTAMP":
            yield "LMS106", f"{func}() of {col.type_name} column {tok.text} is not allowed"
        elif func == "UNIX_TIMESTAMP" and col.type_name != "TIMESTAMP":
            yield (
                "LMS106",
                f"UNIX_TIMESTAMP() of {col.type_name} column {tok.text} is timezone-dependent",
            )
    elif not func and col.type_name not in INTEGER_TYPES | {"YEAR", "TIMESTAMP"}:
        # (LMS103 names TIMESTAMP misuse)
        yield "LMS106", f"column {tok.text} is {col.type_name}: the expression must be an integer"


def check_expressions(doc: Document) -> Iterator[Finding]:
    """LMS105 (functions, operators, constants) and LMS106 (column types) for the
    partitioning and subpartitioning expressions and column lists."""
    for table in doc.tables.values():
        part = table.partition
        if part is None or not part.parsed:
            continue
        for kind, expression, cols in _schemes(part):
            for rule, problem in _scheme_problems(
                table, kind, expression, cols, doc.target.mariadb
            ):
                yield finding(
                    rule,
                    table.name,
                    f"PARTITION BY {kind} ({expression}): {problem}",
                    part.location or table.source,
                )


def _schemes(part: PartitionDef) -> list[tuple[str, str, tuple[str, ...]]]:
    schemes = [(part.kind, part.expression, part.columns)]
    if part.sub_kind:
        schemes.append(
            (part.sub_kind.removeprefix("LINEAR "), part.sub_expression, part.sub_columns)
        )
    return schemes


def _scheme_problems(
    table: TableDef, kind: str, expression: str, cols: tuple[str, ...], mariadb: bool
) -> Iterator[tuple[str, str]]:
    limit = 32 if mariadb else 16
    if kind in ("RANGE", "LIST", "HASH"):
        yield from dict.fromkeys(_expression_problems(table, expression, mariadb))
        return
    if kind == "SYSTEM_TIME":
        return
    listed = [c.strip().strip("`").lower() for c in expression.split(",") if c.strip()]
    for name in listed:
        col = table.columns.get(name)
        if col is None:
            yield "LMS106", f"column {name} is not a column of {table.name}"
        elif kind == "KEY" and col.type_name in TEXT_TYPES | BLOB_TYPES | {"JSON"} | SPATIAL_TYPES:
            yield "LMS106", f"{col.type_name} column {name} is not allowed in a KEY partitioning"
        elif kind != "KEY" and col.type_name not in COLUMNS_TYPES | (
            {"TIME"} if mariadb else set()
        ):
            yield "LMS106", f"{col.type_name} column {name} is not allowed in {kind} partitioning"
    if len(listed) > limit:
        yield "LMS106", f"{len(listed)} columns; partitioning takes at most {limit}"
    if len(set(listed)) != len(listed):
        yield "LMS106", "a column is listed twice"


CHECKS = (check_expressions,)
