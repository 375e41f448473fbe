"""Pure helpers on a shard's id windows: spans, where a counter lands, what is wrong with it.

Kept apart from :mod:`lms_db.ids` and :mod:`lms_db.ids.align` so both (and ``shard status``)
judge a counter by one rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.engine import Connection

from lms_db.catalog import IdWindow
from lms_db.ids.counters import counter_bounds, max_id


def spans_of(windows: Iterable[IdWindow]) -> list[tuple[int, int]]:
    """Windows merged where one ends where the next starts, sorted by ``lo``."""
    out: list[tuple[int, int]] = []
    for w in sorted(windows, key=lambda w: w.lo):
        if out and out[-1][1] == w.lo:
            out[-1] = (out[-1][0], w.hi)
        else:
            out.append((w.lo, w.hi))
    return out


def locate(spans: Iterable[tuple[int, int]], point: int) -> tuple[tuple[int, int] | None, int]:
    """The span the next id at or above ``point`` comes from, and that id (``(None, point)``:
    every span lies below ``point``).  A point in a gap moves up to the next span's start."""
    for lo, hi in spans:
        if point < hi:
            return (lo, hi), max(point, lo)
    return None, point


def _show(spans: Sequence[tuple[int, int]]) -> str:
    return ", ".join(f"[{lo:,}, {hi:,})" for lo, hi in spans) or "none"


def counter_fault(
    conn: Connection, table: str, column: str, spans: Sequence[tuple[int, int]], counter: int | None
) -> str | None:
    """Why ``table``'s counter would hand out an id outside the shard's live ``spans``
    (``None``: it would not, or there is no counter, as on SQLite).

    Outside means: not inside a span (below, between or past them, or at a span's end),
    not above the highest id present (PostgreSQL: the next insert would fail or collide),
    or a PostgreSQL sequence whose ``MINVALUE``/``MAXVALUE`` are not its span's bounds.

    :param conn: a connection to the shard.
    :param table: an id table.
    :param column: its id column.
    :param spans: the shard's live spans of the table.
    :param counter: the next id the database hands out.
    """
    if counter is None or not spans:
        return None
    inside = [(lo, hi) for lo, hi in spans if lo <= counter < hi]
    if not inside:
        return f"{table} counter at {counter:,} is outside its id windows ({_show(spans)})"
    top = max_id(conn, table, column)
    if top is not None and top >= counter:
        return f"{table} counter at {counter:,} is not above its highest id {top:,}"
    bounds = counter_bounds(conn, table, column)
    lo, hi = inside[0]
    if bounds is not None and bounds != (lo, hi - 1):
        return (
            f"{table} sequence bounds [{bounds[0]:,}, {bounds[1]:,}] are not its window "
            f"[{lo:,}, {hi:,})"
        )
    return None
