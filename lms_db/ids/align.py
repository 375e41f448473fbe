"""Put each id counter of a shard inside its live windows, whatever state the database is in.

A shard's counter (MySQL/MariaDB ``AUTO_INCREMENT``, a PostgreSQL sequence) can stand
anywhere after the database was rebuilt (``migrate down base`` then ``up``, or ``DROP`` and
``CREATE DATABASE``): at 1, below its windows, with no ``MAXVALUE``.  One rule puts it back,
for ``migrate up``, ``shard grant-windows``, ``shard add`` and the moves:

1. the next id is at least the counter, and above the highest id in the table (a counter
   never moves down: an id it handed out may live on another shard now);
2. it lies in the first live span (windows merged where contiguous) at or above that point;
3. when no span is left there, or too few ids are left in it, a window is granted (above
   every window of a non-key table; inside an owned range for ``users``/``courses``);
4. a PostgreSQL sequence's ``MINVALUE``/``MAXVALUE`` are the span's bounds, so ``nextval``
   fails at the window's end instead of drawing another shard's ids.

:func:`plan_alignment` decides under the catalog's map lock and, unless ``dry_run``, grants
and moves the counters: a dry run reports exactly what the real run does, errors included.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.catalog import IdWindow, grant_id_window, lock_map, read_id_windows, read_shard_map
from lms_db.catalog.schema import begin
from lms_db.errors import IdWindowExhausted
from lms_db.ids.counters import counter_bounds, counter_position, max_id, position_counter
from lms_db.ids.spans import locate, spans_of
from lms_db.router.keys import key_table

if TYPE_CHECKING:
    from lms_db.ids.windows import IdWindows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CounterAction:
    """What one table's counter on one shard needs (or got).

    :param shard: the shard.
    :param table: the table.
    :param counter: the next id the database would hand out before (``None``: SQLite).
    :param next_id: the next id it hands out after.
    :param span: the span ``[lo, hi)`` it draws from after (``None``: none could be found).
    :param remaining_before: ids left in the span it drew from before (``None``: it stood
        outside every live window).
    :param granted: the window granted (or, on a dry run, that would be).
    :param moved: whether the counter moves (or its PostgreSQL bounds change).
    :param error: why it cannot be put inside a window with room left.
    """

    shard: str
    table: str
    counter: int | None
    next_id: int
    span: tuple[int, int] | None
    remaining_before: int | None
    granted: IdWindow | None = None
    moved: bool = False
    error: str | None = None

    @property
    def changes(self) -> bool:
        """Whether anything is (or would be) done, or cannot be."""
        return self.granted is not None or self.moved or self.error is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "shard": self.shard,
            "table": self.table,
            "counter_before": self.counter,
            "next_id": self.next_id,
            "remaining_before": self.remaining_before,
            "span": None if self.span is None else list(self.span),
            "granted": []
            if self.granted is None
            else [{"lo": self.granted.lo, "hi": self.granted.hi}],
            "moved": self.moved,
            "error": self.error,
        }


def plan_alignment(
    windows: IdWindows,
    shard: str,
    names: Iterable[str],
    *,
    min_remaining: int | None = None,
    floor: int = 0,
    dry_run: bool = False,
    turn: Turn | None = None,
    pending: list[IdWindow] | None = None,
    settled_only: bool = False,
) -> list[CounterAction]:
    """Decide (under the catalog's map lock) and, unless ``dry_run``, carry out what every
    named table's counter on ``shard`` needs (see the module's rules).

    :param windows: the :class:`~lms_db.ids.windows.IdWindows` (sizes, low-headroom share, Router).
    :param shard: a MySQL/MariaDB or PostgreSQL shard.
    :param names: id tables the shard has.
    :param min_remaining: grant when fewer ids than this are left (default: the
        low-headroom share of the span, or none left).
    :param floor: ids below this count as used (reserved, not inserted yet).
    :param dry_run: decide only: grant nothing, move nothing.
    :param turn: waited for before taking the map lock and released once the grants are
        committed: shards run in parallel but grant in a fixed order, so a run and its dry
        run get the same windows.
    :param pending: windows a dry run "granted" on earlier shards (appended to): counted as
        taken, as the real run's committed grants would be.
    :param settled_only: leave out every table whose counter does not stand above its
        highest id (see :func:`settled`).
    :returns: one action per table drawing from windows on the shard (tables of a keyspace
        it owns no range of are left out, and with ``settled_only`` the unsettled ones).
    :raises CatalogError: the catalog failed.
    """
    router = windows.router
    actions: list[CounterAction] = []
    engine = router.engine_for_shard(shard)
    with engine.connect() as conn, _taking(turn):
        with begin(router.catalog) as catalog:
            # Decide and grant on the windows and the map as committed now, one granter at
            # a time: a grant made meanwhile by another process counts, a move that just
            # changed an owner too.
            lock_map(catalog)
            shard_map = read_shard_map(catalog)
            everything = read_id_windows(catalog) + list(pending or ())
            for name in names:
                table = windows.table(name)
                keyspace = key_table(table)
                owned = list(shard_map.for_keyspace(keyspace)) if keyspace else []
                if keyspace is not None and not any(r.shard == shard for r in owned):
                    continue
                mine = [w for w in everything if w.table_name == name and w.shard == shard]
                if keyspace is not None:
                    mine = [
                        w
                        for w in mine
                        if any(r.shard == shard and r.lo <= w.lo and w.hi <= r.hi for r in owned)
                    ]
                action = _decide(
                    windows,
                    conn,
                    catalog,
                    shard,
                    table,
                    spans_of(mine),
                    shard_map,
                    min_remaining=min_remaining,
                    floor=floor,
                    dry_run=dry_run,
                    taken=everything,
                    settled_only=settled_only,
                )
                if action is None:
                    continue
                if action.granted is not None:
                    everything.append(action.granted)
                    if dry_run and pending is not None:
                        pending.append(action.granted)
                actions.append(action)
            # Reads only on the shard so far; MySQL's DDL below would commit a transaction.
            conn.rollback()
        if turn is not None:
            turn.done.set()  # committed: the next shard may grant
        # The grants are committed before any counter draws from them.
        for action in actions if not dry_run else ():
            if action.moved and action.span is not None:
                _move(windows, conn, table_name=action.table, action=action)
    return actions


def _decide(
    windows: IdWindows,
    conn: Connection,
    catalog: Connection,
    shard: str,
    table: sa.Table,
    spans: list[tuple[int, int]],
    shard_map: Any,
    *,
    min_remaining: int | None,
    floor: int,
    dry_run: bool,
    taken: list[IdWindow],
    settled_only: bool = False,
) -> CounterAction | None:
    column = windows.id_column_name(table)
    counter = counter_position(conn, table.name, column)
    top = max_id(conn, table.name, column)
    if settled_only and not settled(counter, top):
        return None
    point = max(counter or 0, floor, (top or 0) + 1, 1)
    span, next_id = locate(spans, point)
    before = None
    if counter is not None:
        was, _ = locate(spans, counter)
        before = was[1] - counter if was is not None and was[0] <= counter else None
    needs = span is None or _short(windows, span, next_id, min_remaining)
    granted: IdWindow | None = None
    error: str | None = None
    if needs:
        try:
            lo, hi = windows.next_window(
                catalog, conn, shard, table, shard_map, floor=next_id, taken=taken
            )
        except IdWindowExhausted as exc:
            left = 0 if span is None else span[1] - next_id
            error = (
                exc.message
                if left <= 0
                else (
                    f"{exc.message} ({left:,} ids are still left in [{span[0]:,}, {span[1]:,}) "  # type: ignore[index]
                    "meanwhile)"
                )
            )
        else:
            granted = IdWindow(table.name, shard, lo, hi)
            if not dry_run:
                grant_id_window(catalog, table_name=table.name, shard=shard, lo=lo, hi=hi)
            if span is not None and lo == span[1]:
                span = (span[0], hi)  # contiguous: the counter simply continues
            else:
                span, next_id = (lo, hi), max(next_id, lo)
    moved = span is not None and (counter != next_id or _bounds_differ(conn, table, column, span))
    return CounterAction(shard, table.name, counter, next_id, span, before, granted, moved, error)


def settled(counter: int | None, top: int | None) -> bool:
    """Whether deleting rows can no longer change what a counter needs: it stands above the
    table's highest id ``top`` (or the table is empty).

    Every decision above reads the table's rows only through ``max(counter, top + 1)``, so
    then it is the same before and after a delete of any rows.  Always so on
    MySQL/MariaDB, where an insert with an explicit id moves the counter past it; a
    PostgreSQL sequence stays below rows inserted with explicit ids (rows a move brought in).

    :param counter: the next id the database hands out (``None``: SQLite, no counter).
    :param top: the table's highest id (``None``: no rows).
    """
    return counter is not None and (top is None or top < counter)


@dataclass(frozen=True)
class Turn:
    """A shard's place in a fixed grant order: wait for ``previous``, then set ``done``."""

    previous: threading.Event | None
    done: threading.Event


@contextlib.contextmanager
def _taking(turn: Turn | None) -> Iterator[None]:
    if turn is not None and turn.previous is not None:
        turn.previous.wait()
    try:
        yield
    finally:
        if turn is not None:
            turn.done.set()  # also on failure: never block the shards after this one


def _short(
    windows: IdWindows, span: tuple[int, int], next_id: int, min_remaining: int | None
) -> bool:
    left = span[1] - next_id
    if min_remaining is not None:
        return left < min_remaining
    return left <= 0 or left < windows.low_headroom * (span[1] - span[0])


def _bounds_differ(conn: Connection, table: sa.Table, column: str, span: tuple[int, int]) -> bool:
    bounds = counter_bounds(conn, table.name, column)
    return bounds is not None and bounds != (span[0], span[1] - 1)


def _move(windows: IdWindows, conn: Connection, *, table_name: str, action: CounterAction) -> None:
    assert action.span is not None
    column = windows.id_column_name(windows.table(table_name))
    position_counter(
        conn,
        table_name,
        column,
        next_id=action.next_id,
        lo=action.span[0],
        hi=action.span[1],
        restart=action.counter != action.next_id,
    )
    conn.commit()
    log.info(
        "%s: %s counter at %d, window [%d, %d)",
        action.shard,
        table_name,
        action.next_id,
        *action.span,
    )
