"""Top up id windows across the fleet: what ``lmsdb shard grant-windows`` and ``migrate up`` run.

A shard draws each table's ids from windows the catalog granted it (:mod:`lms_db.ids.windows`).  On
MySQL/MariaDB nothing stops ``AUTO_INCREMENT`` at a window's end, so a window must be
replaced before it runs out: :func:`top_up_windows` grants a new one wherever a shard has
no live window for a table, or less than its low-headroom share (or ``min_remaining`` ids)
left.  It is idempotent (a second run grants nothing), safe while the application inserts
(the grant is one catalog transaction, the counter move one metadata change) and safe next
to other granters (grants take the catalog's map lock).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lms_db.catalog import IdWindow
from lms_db.ids.windows import Headroom, IdWindows
from lms_db.router.keys import key_table
from lms_db.router.router import DEFAULT_PARALLEL, Router

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopUp:
    """One shard's table that needed a window.

    :param shard: the shard.
    :param table: the table.
    :param before: its headroom before (``None``: it had no live window).
    :param granted: the windows granted now (empty on a dry run).
    """

    shard: str
    table: str
    before: Headroom | None
    granted: tuple[IdWindow, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "shard": self.shard, "table": self.table,
            "remaining_before": None if self.before is None else self.before.remaining,
            "granted": [{"lo": w.lo, "hi": w.hi} for w in self.granted],
        }


def top_up_windows(
    router: Router,
    shards: Sequence[str] | None = None,
    tables: Sequence[str] | None = None,
    *,
    min_remaining: int | None = None,
    dry_run: bool = False,
    windows: IdWindows | None = None,
    parallel: int = DEFAULT_PARALLEL,
) -> list[TopUp]:
    """Grant a window wherever a shard's ids of a table are missing or running low.

    SQLite shards are left alone: there each reservation is granted its own window.  Key
    tables (``users``, ``courses``) are skipped on shards that own no range of their
    keyspace; tables a shard does not have yet (not migrated) are skipped.

    :param router: the Router (its catalog, map and engines).
    :param shards: only these shards (default: every shard).
    :param tables: only these tables (default: every id table).
    :param min_remaining: grant when fewer ids than this are left (default: when less than
        the low-headroom share of the current span is left).
    :param dry_run: report what would be granted, grant nothing.
    :param windows: the :class:`IdWindows` to use (default sizes otherwise).
    :param parallel: shards worked on at once.
    :returns: the tables that needed a window (that got one, unless ``dry_run``), by shard.
    :raises UnknownObjectError: an unknown shard or table.
    :raises IdWindowExhausted: a shard's owned key ranges have no free ids left.
    """
    windows = windows or IdWindows(router)
    names = list(tables) if tables else windows.table_names
    for name in names:
        windows.table(name)  # unknown table: fail before granting anything
    chosen = list(shards) if shards else list(router.shards())
    for shard in chosen:
        router.location(shard)

    def one(shard: str) -> list[TopUp]:
        engine = router.engine_for_shard(shard)
        if engine.dialect.name == "sqlite":
            return []
        candidates = needing_windows(router, windows, shard, _present(engine, names))
        before = {h.table: h for h in windows.headroom(shard, candidates)}
        short = [n for n in candidates
                 if n not in before or _short(before[n], min_remaining)]
        if dry_run or not short:
            return [TopUp(shard, n, before.get(n), ()) for n in short]
        # ensure_windows decides again under the catalog's lock: another granter may
        # have been first.
        granted = windows.ensure_windows(shard, short, min_remaining=min_remaining)
        for w in granted:
            log.info("%s: %s window [%d, %d) granted", shard, w.table_name, w.lo, w.hi)
        return [TopUp(shard, n, before.get(n), tuple(w for w in granted if w.table_name == n))
                for n in short if any(w.table_name == n for w in granted)]

    # Shards in parallel: grants queue on the catalog's lock, counter moves run side by side.
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(chosen)))) as pool:
        return [t for per_shard in pool.map(one, chosen) for t in per_shard]


def needing_windows(router: Router, windows: IdWindows, shard: str,
                    present: Iterable[str]) -> list[str]:
    """The id tables among ``present`` (tables the shard has) that ``shard`` draws ids for
    from windows: every non-key table, and ``users``/``courses`` where it owns a range of
    their keyspace.  (SQLite shards: see :func:`top_up_windows`.)"""
    owned = {ks for ks in ("user", "course") if shard in router.shards(ks)}
    have = set(present)
    return [n for n in windows.table_names
            if n in have and key_table(windows.table(n)) in (None, *owned)]


def _short(room: Headroom, min_remaining: int | None) -> bool:
    if min_remaining is not None:
        return room.remaining < min_remaining
    return room.low


def _present(engine: sa.Engine, names: Iterable[str]) -> set[str]:
    with engine.connect() as conn:
        existing = set(sa.inspect(conn).get_table_names())
    return {n for n in names if n in existing}
