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
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lms_db.catalog import IdWindow
from lms_db.errors import LmsDbError
from lms_db.ids.align import CounterAction, Turn, plan_alignment
from lms_db.ids.windows import IdWindows
from lms_db.router.keys import key_table
from lms_db.router.router import DEFAULT_PARALLEL, Router
from lms_db.topology.failures import ShardFailure, shard_failure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopUpRun:
    """What ``grant-windows`` did (or, on a dry run, would do) across the fleet.

    :param actions: every counter that needed a window or a move, or cannot get one.
    :param failures: shards that could not be worked on, with one line each (shard, masked
        URL, what happened).
    :param dry_run: nothing was changed.
    """

    actions: tuple[CounterAction, ...]
    failures: tuple[ShardFailure, ...] = ()
    dry_run: bool = False

    @property
    def errors(self) -> list[str]:
        """One line per problem: a shard that failed, a counter that cannot be fixed."""
        return [f.line for f in self.failures] + [
            f"{a.shard}: {a.error}" for a in self.actions if a.error is not None
        ]

    @property
    def ok(self) -> bool:
        """Whether every counter is (or would be) inside a window with room left."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "dry_run": self.dry_run,
            "ok": self.ok,
            "windows": [a.to_dict() for a in self.actions],
            "failures": [f.to_dict() for f in self.failures],
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
    settled_only: bool = False,
) -> TopUpRun:
    """Put every counter inside its shard's live windows; grant where ids are missing or low.

    The same decisions on a dry run and a real one (:func:`~lms_db.ids.align.plan_alignment`,
    under the catalog's map lock): a dry run lists exactly the grants and counter moves the
    real run makes, and the counters that cannot be fixed.  SQLite shards are left alone:
    there each reservation is granted its own window.  Key tables (``users``, ``courses``)
    are skipped on shards that own no range of their keyspace; tables a shard does not have
    yet (not migrated) are skipped.  A shard that cannot be reached is reported, not raised.

    :param router: the Router (its catalog, map and engines).
    :param shards: only these shards (default: every shard).
    :param tables: only these tables (default: every id table).
    :param min_remaining: grant when fewer ids than this are left (default: when less than
        the low-headroom share of the current span is left).
    :param dry_run: report what would be done, change nothing.
    :param windows: the :class:`IdWindows` to use (default sizes otherwise).
    :param parallel: shards worked on at once.
    :param settled_only: only counters a delete can no longer change (they stand above
        their table's highest id, :func:`~lms_db.ids.align.settled`): a move positions those
        before it deletes the moved rows from its source.
    :returns: the counters that needed (or got) a window or a move, and the failures.
    :raises UnknownObjectError: an unknown shard or table.
    """
    windows = windows or IdWindows(router)
    names = list(tables) if tables else windows.table_names
    for name in names:
        windows.table(name)  # unknown table: fail before granting anything
    chosen = list(shards) if shards else list(router.shards())
    for shard in chosen:
        router.location(shard)

    # Shards work in parallel but grant in topology order (each waits for the previous
    # one's grants): a dry run then shows exactly the windows the real run grants.
    done = [threading.Event() for _ in chosen]
    turns = {s: Turn(done[i - 1] if i else None, done[i]) for i, s in enumerate(chosen)}
    pending: list[IdWindow] = []

    def one(shard: str) -> list[CounterAction] | ShardFailure:
        try:
            engine = router.engine_for_shard(shard)
            if engine.dialect.name == "sqlite":
                return []
            candidates = needing_windows(router, windows, shard, _present(engine, names))
            actions = plan_alignment(
                windows,
                shard,
                candidates,
                min_remaining=min_remaining,
                dry_run=dry_run,
                turn=turns[shard],
                pending=pending,
                settled_only=settled_only,
            )
        except (LmsDbError, sa.exc.SQLAlchemyError) as exc:
            return shard_failure(shard, router.location(shard).primary.display, exc)
        finally:
            turns[shard].done.set()
        for a in actions:
            if a.granted is not None and not dry_run:
                log.info(
                    "%s: %s window [%d, %d) granted", shard, a.table, a.granted.lo, a.granted.hi
                )
        return [a for a in actions if a.changes]

    # Shards in parallel: grants queue on the catalog's lock, counter moves run side by side.
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(chosen)))) as pool:
        outcomes = list(pool.map(one, chosen))
    return TopUpRun(
        tuple(a for o in outcomes if not isinstance(o, ShardFailure) for a in o),
        tuple(o for o in outcomes if isinstance(o, ShardFailure)),
        dry_run,
    )


def needing_windows(
    router: Router, windows: IdWindows, shard: str, present: Iterable[str]
) -> list[str]:
    """The id tables among ``present`` (tables the shard has) that ``shard`` draws ids for
    from windows: every non-key table, and ``users``/``courses`` where it owns a range of
    their keyspace.  (SQLite shards: see :func:`top_up_windows`.)"""
    owned = {ks for ks in ("user", "course") if shard in router.shards(ks)}
    have = set(present)
    return [
        n
        for n in windows.table_names
        if n in have and key_table(windows.table(n)) in (None, *owned)
    ]


def _present(engine: sa.Engine, names: Iterable[str]) -> set[str]:
    with engine.connect() as conn:
        existing = set(sa.inspect(conn).get_table_names())
    return {n for n in names if n in existing}
