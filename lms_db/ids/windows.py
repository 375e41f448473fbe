"""Ids that never collide across shards: per-shard, per-table id windows from the catalog.

Every sharded table with an auto-increment id draws its ids, on each shard, from windows
``[lo, hi)`` that the catalog grants (:func:`lms_db.catalog.grant_id_window` refuses any
overlap), so two shards never hand out the same id and a row moved to another shard keeps
its id without meeting a twin there.

- ``users.id`` and ``courses.id`` are shard keys: their windows lie inside a key range the
  shard owns, so a new row's id routes back to the shard that created it.
- Other tables (``enrollments``, ``payments``, ...) get windows from the table's own id
  space, always at its top (above every window granted so far): moving a counter into a new
  window is therefore always a move *up*, which MySQL allows, even after a move brought in
  rows with higher ids.
- The database's counter is positioned inside the current window
  (:mod:`lms_db.ids.counters`).  SQLite has no counter that survives a deleted top row
  (``max(rowid) + 1`` would hand a moved-away id out again), so there every
  :meth:`IdWindows.reserve` is granted a fresh window of exactly the ids it returns (the
  hi/lo pattern): the catalog itself is the high-water mark, and ids are never reused.

A new window is granted before the current one runs out (:meth:`IdWindows.ensure_windows`,
run by ``shard add``, ``sample load`` and after moves), contiguous with the current one when
no other shard took the ids after it, so the counter simply continues: no pause in service.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.catalog import (
    IdWindow,
    RangeAssignment,
    ShardMap,
    grant_id_window,
    lock_map,
    read_id_windows,
    read_shard_map,
)
from lms_db.catalog.schema import begin
from lms_db.errors import IdWindowExhausted, UnknownObjectError
from lms_db.ids.counters import counter_position, max_id, position_counter
from lms_db.ids.spans import counter_fault, locate, spans_of
from lms_db.router.keys import id_column, id_tables, key_table
from lms_db.router.router import Router

log = logging.getLogger(__name__)

#: Size of a window of a table that is not a shard key (enrollments, payments, ...).
DEFAULT_WINDOW_SIZE = 10_000_000
#: Largest window of ``users``/``courses`` ids (less when the owned range is smaller).
DEFAULT_KEY_WINDOW_SIZE = 1_000_000
#: ``shard status`` warns when less than this share of the current window is left.
DEFAULT_LOW_HEADROOM = 0.10
#: Ids start at 1: MySQL turns an inserted 0 into the next AUTO_INCREMENT value.
FIRST_ID = 1


@dataclass(frozen=True)
class Headroom:
    """How far one shard has used its ids of one table.

    :param table: the table.
    :param shard: the shard.
    :param lo: first id of the current span (contiguous windows merged).
    :param hi: first id after it.
    :param next_id: the next id the shard hands out (``hi``: exhausted).
    :param windows: windows of this table the shard holds.
    :param low_share: the share under which ``low`` is true.
    :param per_reservation: SQLite: each reservation is granted a window of exactly the ids
        it takes, so the newest window is always full and ``remaining`` means nothing.
    :param counter: where the database's counter stands (``None``: SQLite, no counter).
    :param fault: why the counter is not inside the shard's windows (a rebuilt database,
        a sequence without the window's bounds...): its next insert may take another
        shard's id.  ``lmsdb shard grant-windows`` (or ``migrate up``) fixes it.
    """

    table: str
    shard: str
    lo: int
    hi: int
    next_id: int
    windows: int
    low_share: float = DEFAULT_LOW_HEADROOM
    per_reservation: bool = False
    counter: int | None = None
    fault: str | None = None

    @property
    def used(self) -> int:
        """Ids of the current span already handed out."""
        return max(0, min(self.next_id, self.hi) - self.lo)

    @property
    def remaining(self) -> int:
        """Ids left in the current span."""
        return max(0, self.hi - self.next_id)

    @property
    def low(self) -> bool:
        """Whether less than ``low_share`` of the span is left (grant a new window soon)."""
        if self.per_reservation:
            return False
        return self.remaining < self.low_share * (self.hi - self.lo)


_spans = spans_of


class IdWindows:
    """Grants, positions and reports the id windows of every shard.

    :param router: the Router (its catalog, shard map and engines).
    :param window_size: size of a new window of a non-key table.
    :param key_window_size: largest new window of ``users``/``courses``.
    :param low_headroom: share of a span under which a new window is granted.
    """

    def __init__(
        self,
        router: Router,
        *,
        window_size: int = DEFAULT_WINDOW_SIZE,
        key_window_size: int = DEFAULT_KEY_WINDOW_SIZE,
        low_headroom: float = DEFAULT_LOW_HEADROOM,
    ) -> None:
        self.router = router
        self.window_size = window_size
        self.key_window_size = key_window_size
        self.low_headroom = low_headroom
        self._tables = {t.name: t for t in id_tables()}

    def table(self, name: str) -> sa.Table:
        """The id table called ``name``.

        :raises UnknownObjectError: not a sharded table with an auto-increment id.
        """
        try:
            return self._tables[name]
        except KeyError:
            known = ", ".join(sorted(self._tables))
            raise UnknownObjectError(
                f"{name!r} draws no ids from windows (tables: {known})"
            ) from None

    @property
    def table_names(self) -> list[str]:
        """Tables with id windows, in dependency order."""
        return list(self._tables)

    # -- reading --------------------------------------------------------------------------

    def windows(self, shard: str, table: str) -> list[IdWindow]:
        """The live windows of ``shard`` for ``table``, by ``lo``.

        A window of ``users``/``courses`` is live only while it lies inside a range the
        shard owns (after a move, the old owner stops drawing from it).

        :param shard: a shard name.
        :param table: an id table.
        """
        keyspace = key_table(self.table(table))
        return _live(
            read_id_windows(self.router.catalog, table), self.router.shard_map, shard, keyspace
        )

    def _position(
        self, conn: Connection, table: sa.Table, spans: Sequence[tuple[int, int]], floor: int = 0
    ) -> tuple[tuple[int, int] | None, int]:
        """The span the shard draws from and its next id (``(None, n)``: none usable)."""
        column = self._column(table)
        counter = counter_position(conn, table.name, column)
        if counter is not None:
            # Never below the counter nor the highest id present; a point below or between
            # the spans (a window granted meanwhile, a rebuilt database) moves up into one.
            top = max_id(conn, table.name, column)
            return locate(spans, max(counter, floor, (top or 0) + 1))
        # SQLite: the newest span, by the ids already in it (reporting only: see reserve).
        if not spans:
            return None, floor
        lo, hi = spans[-1]
        top = max_id(conn, table.name, column, lo, hi)
        return (lo, hi), max(lo if top is None else top + 1, floor)

    def headroom(self, shard: str, tables: Iterable[str] | None = None) -> list[Headroom]:
        """Where each table's ids stand on ``shard`` (tables with no live window left out).

        :param shard: a shard name.
        :param tables: only these tables (default: every id table).
        :raises UnknownObjectError: unknown shard or table.
        """
        out = []
        names = list(tables or self.table_names)
        everything = read_id_windows(self.router.catalog)  # one read for every table
        with self.router.engine_for_shard(shard).connect() as conn:
            # SQLite grants a window per reservation: a full newest window is not "low".
            per_reservation = conn.dialect.name == "sqlite"
            for name in names:
                table = self.table(name)
                mine = _live(
                    [w for w in everything if w.table_name == name],
                    self.router.shard_map,
                    shard,
                    key_table(table),
                )
                spans = _spans(mine)
                span, nxt = self._position(conn, table, spans)
                counter = counter_position(conn, name, self._column(table))
                fault = counter_fault(conn, table.name, self._column(table), spans, counter)
                if span is None:
                    if not spans:
                        continue
                    span = spans[-1]  # the counter stands past every window
                elif counter is not None and span[0] <= counter <= span[1]:
                    nxt = counter  # what the database really hands out next
                out.append(
                    Headroom(
                        name,
                        shard,
                        span[0],
                        span[1],
                        min(nxt, span[1]),
                        len(mine),
                        self.low_headroom,
                        per_reservation,
                        counter,
                        fault,
                    )
                )
        return out

    # -- granting -------------------------------------------------------------------------

    def ensure_windows(
        self,
        shard: str,
        tables: Iterable[str] | None = None,
        *,
        min_remaining: int | None = None,
        floor: int = 0,
    ) -> list[IdWindow]:
        """Put ``shard``'s counters inside its live windows, granting where headroom is low.

        Grants when the shard has no live window, when its counter stands past its windows
        (a move brought in higher ids), or when fewer than ``min_remaining`` ids are left
        (default: ``low_headroom`` of the span); moves a counter that stands below or
        between its windows (a rebuilt database restarts at 1) up into them
        (:mod:`lms_db.ids.align`).  Key tables are skipped when the shard owns no range of
        their keyspace.  Does nothing on SQLite, where :meth:`reserve` grants a window per
        reservation.

        :param shard: a shard name.
        :param tables: only these tables (default: every id table).
        :param min_remaining: grant when fewer ids than this are left.
        :param floor: ids below this count as used (ids reserved but not inserted yet).
        :returns: the windows granted now.
        :raises IdWindowExhausted: no free ids are left in the shard's owned key ranges.
        :raises UnknownObjectError: unknown shard or table.
        """
        from lms_db.ids.align import plan_alignment  # it builds on this module

        if self.router.engine_for_shard(shard).dialect.name == "sqlite":
            return []  # windows are granted per reservation there (see reserve)
        names = [self.table(n).name for n in (tables or self.table_names)]
        actions = plan_alignment(self, shard, names, min_remaining=min_remaining, floor=floor)
        failed = [a for a in actions if a.error is not None and a.span is None]
        if failed:
            raise IdWindowExhausted(failed[0].error or "no free ids left")
        return [a.granted for a in actions if a.granted is not None]

    def id_column_name(self, table: sa.Table) -> str:
        """The name of ``table``'s auto-increment id column."""
        return self._column(table)

    def next_window(
        self,
        catalog: Connection,
        conn: Connection,
        shard: str,
        table: sa.Table,
        shard_map: ShardMap,
        *,
        floor: int,
        size: int | None = None,
        taken: Iterable[IdWindow] | None = None,
    ) -> tuple[int, int]:
        """The window a grant for ``shard`` would get now (inside the caller's catalog
        transaction, which holds the map lock); grants nothing.

        :raises IdWindowExhausted: a key table's owned ranges have no free ids at or above
            ``floor``.
        """
        keyspace = key_table(table)
        known = (
            read_id_windows(catalog, table.name)
            if taken is None
            else [w for w in taken if w.table_name == table.name]
        )
        spans = sorted((w.lo, w.hi) for w in known)
        if keyspace is None:
            top = max((hi for _, hi in spans), default=FIRST_ID)
            return top, top + (size or self.window_size)
        # A key table: above every id the shard already holds (MySQL's counter never moves
        # down past them).
        floor = max(FIRST_ID, floor, (max_id(conn, table.name, self._column(table)) or 0) + 1)
        lo_hi = _lowest_free(
            shard_map.for_keyspace(keyspace), spans, shard, floor, size or self.key_window_size
        )
        if lo_hi is None:
            raise IdWindowExhausted(
                f"{shard} has no free {table.name} ids left in the {keyspace} ranges it owns: "
                f"move or split a {keyspace} range to it, or create {table.name} rows elsewhere"
            )
        return lo_hi

    def _counter(self, conn: Connection, table: sa.Table) -> int | None:
        return counter_position(conn, table.name, self._column(table))

    def _place(
        self,
        conn: Connection,
        table: sa.Table,
        next_id: int,
        span: tuple[int, int],
        *,
        restart: bool,
    ) -> None:
        position_counter(
            conn,
            table.name,
            self._column(table),
            next_id=next_id,
            lo=span[0],
            hi=span[1],
            restart=restart,
        )
        conn.commit()

    def _grant_next(
        self, conn: Connection, shard: str, table: sa.Table, *, floor: int, size: int | None = None
    ) -> IdWindow:
        """A new window for ``shard``, whatever it holds (one catalog transaction)."""
        with begin(self.router.catalog) as catalog:
            lock_map(catalog)
            return self._grant_locked(
                catalog, conn, shard, table, read_shard_map(catalog), floor=floor, size=size
            )

    def _grant_locked(
        self,
        catalog: Connection,
        conn: Connection,
        shard: str,
        table: sa.Table,
        shard_map: ShardMap,
        *,
        floor: int,
        size: int | None = None,
    ) -> IdWindow:
        """Grant the next window inside the caller's catalog transaction, which holds the map
        lock (:func:`~lms_db.catalog.lock_map`): grants run one at a time, each on the
        committed windows and the live map (not the Router's cached copy: a move may just
        have changed an owner)."""
        lo, hi = self.next_window(catalog, conn, shard, table, shard_map, floor=floor, size=size)
        return grant_id_window(catalog, table_name=table.name, shard=shard, lo=lo, hi=hi)

    # -- explicit ids ---------------------------------------------------------------------

    def reserve(
        self, shard: str, table: str, count: int, *, conn: Connection | None = None, after: int = 0
    ) -> range:
        """Reserve up to ``count`` consecutive ids of ``table`` on ``shard`` (maybe fewer).

        MySQL/MariaDB and PostgreSQL: the counter is moved past the reserved ids, so
        auto-increment inserts never take them; a new window is granted when the current
        one is full.  SQLite: a fresh window of exactly these ids is granted (never reused,
        even when rows are deleted or moved away); pass ``conn``, the inserting transaction's
        connection, so a ``users``/``courses`` window starts above its uncommitted rows.

        :param shard: a shard name.
        :param table: an id table.
        :param count: ids wanted (at least 1).
        :param conn: SQLite: the inserting transaction's connection (ignored elsewhere: the
            counter is moved on a connection of its own).
        :param after: only ids above this (ids the caller reserved and has not inserted yet).
        :returns: the ids, ``range(a, b)`` with ``1 <= b - a <= count``.
        :raises IdWindowExhausted: no window can be granted.
        """
        t = self.table(table)
        engine = self.router.engine_for_shard(shard)
        floor = after + 1 if after else 0
        if engine.dialect.name == "sqlite":
            if conn is not None:
                window = self._grant_next(conn, shard, t, floor=floor, size=count)
            else:
                with engine.connect() as own:
                    window = self._grant_next(own, shard, t, floor=floor, size=count)
            return range(window.lo, window.hi)
        for _ in range(3):
            with engine.connect() as own:
                span, nxt = self._position(own, t, _spans(self.windows(shard, table)), floor)
                if span is not None and nxt < span[1]:
                    end = min(span[1], nxt + count)
                    self._place(own, t, end, span, restart=True)
                    return range(nxt, end)
            self.ensure_windows(
                shard, [table], min_remaining=min(count, self.window_size), floor=floor
            )
        raise IdWindowExhausted(f"could not reserve {table} ids on {shard}")

    def reserve_many(
        self, shard: str, table: str, count: int, *, conn: Connection | None = None, after: int = 0
    ) -> list[int]:
        """Exactly ``count`` ids of ``table`` on ``shard``, across windows if need be.

        :param shard: a shard name.
        :param table: an id table.
        :param count: ids wanted.
        :param conn: SQLite: the inserting transaction's connection (see :meth:`reserve`).
        :param after: every id is above this one (see :meth:`reserve`).
        :raises IdWindowExhausted: no window can be granted.
        """
        out: list[int] = []
        while len(out) < count:
            out.extend(
                self.reserve(
                    shard, table, count - len(out), conn=conn, after=out[-1] if out else after
                )
            )
        return out

    @staticmethod
    def _column(table: sa.Table) -> str:
        column = id_column(table)
        assert column is not None  # id tables have one by construction
        return column.name


def _lowest_free(
    ranges: Iterable[RangeAssignment],
    taken: Sequence[tuple[int, int]],
    shard: str,
    floor: int,
    size: int,
) -> tuple[int, int] | None:
    """The lowest ``[lo, hi)`` of at most ``size`` ids at or above ``floor``, inside a range
    ``shard`` owns and clear of every window in ``taken`` (sorted); ``None``: none is left."""
    for r in ranges:
        if r.shard != shard or r.hi <= floor:
            continue
        start = max(r.lo, floor)
        for lo, hi in taken:
            if hi <= start or lo >= r.hi:
                continue
            if lo <= start:
                start = hi
            else:
                break
        if start >= r.hi:
            continue
        end = min(r.hi, start + size, min((lo for lo, _ in taken if lo > start), default=r.hi))
        return start, end
    return None


def _live(
    windows: Iterable[IdWindow], shard_map: ShardMap, shard: str, keyspace: str | None
) -> list[IdWindow]:
    """``shard``'s windows among ``windows``; of a key table, only those inside a range it
    owns (after a move, the old owner stops drawing from the moved range's windows)."""
    mine = [w for w in windows if w.shard == shard]
    if keyspace is None:
        return mine
    owned = [r for r in shard_map.for_keyspace(keyspace) if r.shard == shard]
    return [w for w in mine if any(r.lo <= w.lo and w.hi <= r.hi for r in owned)]
