"""Refreshing materialized views, natively or by building a shadow table and swapping it in.

- PostgreSQL: ``REFRESH MATERIALIZED VIEW CONCURRENTLY`` (readers keep the old rows).
- MySQL/MariaDB: fill ``<view>__shadow``, then one atomic ``RENAME TABLE`` swaps it with the
  live table; readers see the old rows or the new ones, never a missing or empty table.
- SQLite: delete and refill inside one transaction: SQLite's transactions already give
  readers the old rows or the new ones (``ALTER TABLE ... RENAME`` would not carry the
  index names across, so a swap buys nothing there).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.dialects import quote
from lms_db.dialects.mysql import rename_swap
from lms_db.errors import ConfigError, ConnectionFailed, OperationError, UnknownObjectError
from lms_db.models.popular import MATERIALIZED_VIEWS, MaterializedView
from lms_db.topology.engines import short_reason

log = logging.getLogger(__name__)

SHADOW_SUFFIX = "__shadow"
OLD_SUFFIX = "__old"


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did.

    :param view: the view's name.
    :param rows: rows in the view after the refresh.
    :param seconds: wall time of the refresh.
    :param method: ``concurrently``, ``rename-swap`` or ``transaction``.
    """

    view: str
    rows: int
    seconds: float
    method: str


def get_view(name: str) -> MaterializedView:
    """The materialized view called ``name``.

    :raises UnknownObjectError: no such view.
    """
    try:
        return MATERIALIZED_VIEWS[name]
    except KeyError:
        known = ", ".join(sorted(MATERIALIZED_VIEWS))
        raise UnknownObjectError(f"unknown view {name!r}: known views are {known}") from None


def _insert_select(view: MaterializedView, target: str, conn: Connection) -> str:
    dialect = conn.dialect
    cols = ", ".join(quote(dialect, c.name) for c in view.table.columns)
    query = view.query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return f"INSERT INTO {quote(dialect, target)} ({cols})\n{query}"


def _refresh_mysql(view: MaterializedView, engine: Engine) -> None:
    live = view.name
    shadow, old = live + SHADOW_SUFFIX, live + OLD_SUFFIX
    q_live, q_shadow, q_old = (quote(engine.dialect, n) for n in (live, shadow, old))
    with engine.connect() as conn:
        # Leftovers of a refresh that crashed half-way are dropped first.
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q_shadow}, {q_old}")
        conn.exec_driver_sql(f"CREATE TABLE {q_shadow} LIKE {q_live}")
        conn.exec_driver_sql(_insert_select(view, shadow, conn))
        conn.commit()
        conn.exec_driver_sql(rename_swap(live, shadow, old))
        conn.exec_driver_sql(f"DROP TABLE {q_old}")


def _refresh_sqlite(view: MaterializedView, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(view.table))
        conn.exec_driver_sql(_insert_select(view, view.name, conn))


def _refresh_postgresql(view: MaterializedView, engine: Engine) -> None:
    with engine.begin() as conn:
        name = quote(conn.dialect, view.name)
        conn.exec_driver_sql(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {name}")


REFRESHERS = {
    "mysql": (_refresh_mysql, "rename-swap"),
    "mariadb": (_refresh_mysql, "rename-swap"),
    "sqlite": (_refresh_sqlite, "transaction"),
    "postgresql": (_refresh_postgresql, "concurrently"),
}


def _check_migrated(engine: Engine, view: MaterializedView, where: str) -> None:
    """Refuse a database without the view (not migrated), before anything is created."""
    database = engine.url.database or ""
    missing = (
        engine.dialect.name == "sqlite"
        and database not in ("", ":memory:")
        and (not database.startswith("file:") and not Path(database).exists())
    )
    if not missing:
        with engine.connect() as conn:
            missing = not sa.inspect(conn).has_table(view.name)
    if missing:
        shown = engine.url.render_as_string(hide_password=True)
        raise ConfigError(
            f"{where}{shown} has no {view.name}: the database is not migrated; "
            "run lmsdb migrate up first (nothing was changed)"
        )


def refresh_view(
    engine: Engine, name: str = "popular_courses", *, shard: str | None = None
) -> RefreshResult:
    """Rebuild one materialized view on one database.

    :param engine: the database (a shard primary).
    :param name: the view's name.
    :param shard: the shard it is, for messages.
    :raises UnknownObjectError: unknown view.
    :raises ConfigError: the database is not migrated (it has no such view; exit 2).
    :raises OperationError: the refresh failed (the old contents stay in place).
    """
    view = get_view(name)
    refresher, method = REFRESHERS[engine.dialect.name]
    where = f"{shard}: " if shard else ""
    try:
        _check_migrated(engine, view, where)
    except sa.exc.DBAPIError as exc:
        raise ConnectionFailed(
            f"{where}cannot connect to "
            f"{engine.url.render_as_string(hide_password=True)}: "
            f"{short_reason(exc)}"
        ) from exc
    started = time.monotonic()
    try:
        refresher(view, engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(view.table)).scalar_one()
    except sa.exc.SQLAlchemyError as exc:
        raise OperationError(
            f"refreshing {name} failed: {exc.__class__.__name__}: "
            f"{str(exc.orig if hasattr(exc, 'orig') else exc)[:200]}"
        ) from exc
    return RefreshResult(
        view=name, rows=int(rows), seconds=time.monotonic() - started, method=method
    )


def refresh_shards(
    engines: Mapping[str, Engine], name: str = "popular_courses"
) -> dict[str, RefreshResult]:
    """Refresh a view on several shards, one after the other (each is its own swap).

    :param engines: shard name -> its primary's engine.
    :param name: the view's name.
    :raises UnknownObjectError: unknown view (checked before any shard is touched).
    :raises OperationError: a shard's refresh failed; earlier shards keep their new rows.
    """
    get_view(name)
    return {
        shard: refresh_view(engine, name, shard=shard if shard != "--url" else None)
        for shard, engine in engines.items()
    }
