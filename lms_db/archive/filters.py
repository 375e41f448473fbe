"""The archive's row filter: structured options, validated against the table, always bound.

No text from the command line ever becomes SQL: a column must be one of the table's
(checked against the models), an operator one of :data:`OPERATORS`, and a value is
converted to the column's type and passed as a bound parameter.  Anything else is an
:class:`~lms_db.errors.InputError` (exit 2) raised before any database is touched.

``--older-than 2y`` is turned into a fixed cutoff when the run starts; a resumed run keeps
the cutoff its first start chose, so it never widens the set of rows halfway.
"""

from __future__ import annotations

import calendar
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from lms_db.errors import InputError

#: Comparison operators ``--where`` accepts.
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "like", "in", "is")
_AGE = re.compile(r"^(\d{1,4})([dwmy])$")
_OPS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TRUE = ("1", "true", "yes")
_FALSE = ("0", "false", "no")


@dataclass(frozen=True)
class Condition:
    """``column op value`` with the value already converted to the column's type."""

    column: str
    op: str
    value: Any

    def clause(self, table: sa.Table, dialect: str) -> sa.ColumnElement[bool]:
        column = table.c[self.column]
        value = _for_dialect(self.value, dialect)
        if self.op == "is":
            return column.is_(None)
        if self.op == "in":
            return column.in_([_for_dialect(v, dialect) for v in value])
        if self.op == "like":
            return column.like(value)
        return {
            "=": column.__eq__,
            "!=": column.__ne__,
            "<": column.__lt__,
            "<=": column.__le__,
            ">": column.__gt__,
            ">=": column.__ge__,
        }[self.op](value)

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether an archived row satisfies the condition (restore ``--where``)."""
        have = record.get(self.column)
        if self.op == "is":
            return have is None
        if have is None:
            return False
        if self.op == "in":
            return any(_compare(have, "=", v) for v in self.value)
        if self.op == "like":
            pattern = re.escape(str(self.value)).replace("%", ".*").replace("_", ".")
            return re.fullmatch(pattern.replace("\\.\\*", ".*"), str(have)) is not None
        return _compare(have, self.op, self.value)

    def to_dict(self) -> dict[str, Any]:
        shown = (
            [_show(v) for v in self.value] if isinstance(self.value, list) else _show(self.value)
        )
        return {"column": self.column, "op": self.op, "value": shown}


@dataclass(frozen=True)
class RowFilter:
    """Every condition a row must meet (AND)."""

    conditions: tuple[Condition, ...] = ()
    described: dict[str, Any] = field(default_factory=dict)

    def clauses(self, table: sa.Table, dialect: str) -> list[sa.ColumnElement[bool]]:
        return [c.clause(table, dialect) for c in self.conditions]

    def matches(self, record: dict[str, Any]) -> bool:
        return all(c.matches(record) for c in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        return {**self.described, "conditions": [c.to_dict() for c in self.conditions]}


def build_filter(
    table: sa.Table,
    *,
    older_than: str | None = None,
    date_column: str | None = None,
    status: str | None = None,
    where: Sequence[Sequence[str]] = (),
    now: datetime | None = None,
) -> RowFilter:
    """Validate the filter options against ``table`` and convert every value.

    :param older_than: ``<n>d``, ``<n>w``, ``<n>m`` or ``<n>y``: rows whose ``date_column``
        is before now minus that age.
    :param date_column: the date column ``older_than`` applies to.
    :param status: ``status = <value>``.
    :param where: ``(column, op, value)`` triples.
    :param now: the time ``older_than`` counts back from (default: now, UTC).
    :raises InputError: an unknown column or operator, or a value the column cannot hold.
    """
    conditions: list[Condition] = []
    described: dict[str, Any] = {}
    if older_than is not None:
        if date_column is None:
            raise InputError("--older-than needs --date-column (e.g. --date-column completed_at)")
        column = _column(table, date_column, "--date-column")
        if not isinstance(column.type, sa.DateTime | sa.Date) and not isinstance(
            getattr(column.type, "impl", None), sa.DateTime
        ):
            raise InputError(
                f"--date-column {date_column}: not a date or time column of {table.name}"
            )
        cutoff = _cutoff(older_than, now or datetime.now(UTC))
        conditions.append(Condition(date_column, "<", cutoff))
        described.update(older_than=older_than, date_column=date_column, cutoff=cutoff.isoformat())
    elif date_column is not None:
        raise InputError("--date-column needs --older-than (e.g. --older-than 2y)")
    if status is not None:
        conditions.append(Condition("status", "=", convert(table, "status", status)))
    for item in where:
        if len(item) != 3:
            raise InputError(f"--where needs COLUMN OP VALUE, got {' '.join(item)!r}")
        name, op, text = item
        conditions.append(parse_condition(table, name, op, text))
    return RowFilter(tuple(conditions), described)


def parse_condition(table: sa.Table, name: str, op: str, text: str) -> Condition:
    """One ``--where COLUMN OP VALUE``, validated and converted."""
    _column(table, name, "--where")
    op = op.lower()
    if op not in OPERATORS:
        raise InputError(
            f"--where {name} {op}: unknown operator; use one of {', '.join(OPERATORS)}"
        )
    if op == "is":
        if text.lower() != "null":
            raise InputError(f"--where {name} is {text!r}: only 'is null' is supported")
        return Condition(name, op, None)
    if op == "in":
        return Condition(name, op, [convert(table, name, v) for v in text.split(",")])
    if op == "like":
        column = table.c[name]
        if not isinstance(column.type, sa.String):
            raise InputError(f"--where {name} like: {name} is not a text column")
        return Condition(name, op, text)
    return Condition(name, op, convert(table, name, text))


def convert(table: sa.Table, name: str, text: str) -> Any:
    """``text`` as a value of column ``name``'s type.

    :raises InputError: the column cannot hold it.
    """
    column = _column(table, name, "--where")
    kind = column.type
    impl = getattr(kind, "impl", None)
    try:
        if isinstance(kind, sa.Enum):
            if text not in kind.enums:
                raise InputError(
                    f"{table.name}.{name}: {text!r} is not one of {', '.join(kind.enums)}"
                )
            return text
        if isinstance(kind, sa.Boolean):
            lowered = text.lower()
            if lowered not in (*_TRUE, *_FALSE):
                raise ValueError(text)
            return lowered in _TRUE
        if isinstance(kind, sa.Integer):
            return int(text)
        if isinstance(kind, sa.Numeric):
            return Decimal(text)
        if isinstance(kind, sa.DateTime) or isinstance(impl, sa.DateTime):
            value = datetime.fromisoformat(text)
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(kind, sa.Date):
            return date.fromisoformat(text)
        if isinstance(kind, sa.String):
            if kind.length is not None and len(text) > kind.length:
                raise InputError(f"{table.name}.{name}: value longer than {kind.length} characters")
            return text
    except (ValueError, InvalidOperation) as exc:
        raise InputError(
            f"{table.name}.{name}: {text!r} is not a valid {type(kind).__name__.lower()} value"
        ) from exc
    raise InputError(
        f"{table.name}.{name}: filtering on a {type(kind).__name__} column is not supported"
    )


def _column(table: sa.Table, name: str, option: str) -> sa.Column[Any]:
    if name not in table.c:
        known = ", ".join(c.name for c in table.columns)
        raise InputError(f"{option} {name!r}: {table.name} has no such column (columns: {known})")
    return table.c[name]


def _cutoff(age: str, now: datetime) -> datetime:
    match = _AGE.match(age.strip())
    if match is None:
        raise InputError(f"--older-than {age!r}: use <n>d, <n>w, <n>m or <n>y (e.g. 2y)")
    count, unit = int(match.group(1)), match.group(2)
    if unit == "d":
        return now - timedelta(days=count)
    if unit == "w":
        return now - timedelta(weeks=count)
    months = count * (12 if unit == "y" else 1)
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day)


def _for_dialect(value: Any, dialect: str) -> Any:
    """Aware UTC datetimes for PostgreSQL; naive UTC elsewhere (UTC sessions, SQLite text)."""
    if isinstance(value, datetime) and value.tzinfo is not None and dialect != "postgresql":
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _compare(have: Any, op: str, want: Any) -> bool:
    if isinstance(want, datetime):
        if isinstance(have, str):
            have = datetime.fromisoformat(have)
        if isinstance(have, datetime) and have.tzinfo is None:
            have = have.replace(tzinfo=UTC)
    elif isinstance(want, Decimal) and isinstance(have, int | float | str):
        have = Decimal(str(have))
    elif isinstance(want, bool) and isinstance(have, int):
        have = bool(have)
    try:
        return bool(_OPS[op](have, want))
    except TypeError:
        return False


def _show(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def filter_from_dict(table: sa.Table, data: dict[str, Any]) -> RowFilter:
    """The filter a journal entry recorded (cutoff kept as it was first computed)."""
    conditions = []
    for item in data.get("conditions", ()):
        op, value = item["op"], item["value"]
        if op == "is":
            conditions.append(Condition(item["column"], op, None))
        elif op == "in":
            conditions.append(
                Condition(
                    item["column"], op, [convert(table, item["column"], str(v)) for v in value]
                )
            )
        elif op == "like":
            conditions.append(Condition(item["column"], op, value))
        else:
            conditions.append(
                Condition(item["column"], op, convert(table, item["column"], _text(value)))
            )
    described = {k: v for k, v in data.items() if k != "conditions"}
    return RowFilter(tuple(conditions), described)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def split_where(text: str) -> tuple[str, str, str]:
    """``"COLUMN OP VALUE"`` (one ``--where`` argument) -> its three parts.

    :raises InputError: fewer than three parts.
    """
    parts = text.strip().split(None, 2)
    if len(parts) != 3:
        raise InputError(
            f'--where {text!r}: use "COLUMN OP VALUE", e.g. --where '
            '"total_watch_time_seconds >= 3600"'
        )
    return parts[0], parts[1], parts[2]
