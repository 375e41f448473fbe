"""Undo an interrupted sample load: delete exactly the rows it wrote, nothing else.

Every row a load writes has an id from a block it reserved in its shard's windows (or, for
``user_profiles``/``user_sessions``, the id of a user it created; for the global tables, a
shard that had none before).  :func:`roll_back` deletes by those ids, children first, one
transaction per shard, so a load stopped by Ctrl-C or SIGTERM leaves the fleet as it was.
Ids are never handed out twice (the windows moved past them), so a row another writer
added meanwhile is never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

import sqlalchemy as sa

from lms_db.router.keys import keyspace_tables
from lms_db.router.router import Router

log = logging.getLogger(__name__)

#: Tables whose rows are found through their user's id, not an id of their own.
_BY_USER = ("user_profiles", "user_sessions")


def _in(column: sa.ColumnElement[int], ranges: Iterable[range]) -> sa.ColumnElement[bool]:
    return sa.or_(*(sa.and_(column >= r.start, column < r.stop) for r in ranges if len(r)))


def roll_back(
    router: Router,
    taken: Mapping[tuple[str, str], Sequence[range]],
    global_shards: Sequence[str],
    *,
    events: bool,
) -> int:
    """Delete the rows a load wrote; returns how many.

    :param router: the Router.
    :param taken: the id blocks the load reserved, per ``(shard, table)``.
    :param global_shards: shards whose global tables the load filled (they were empty).
    :param events: the load also wrote analytics events (deleted by user id).
    :raises sqlalchemy.exc.SQLAlchemyError: a shard failed (the caller reports it).
    """
    deleted = 0
    shards = sorted({s for s, _ in taken} | set(global_shards))
    for shard in shards:
        users = taken.get((shard, "users"), ())
        with router.engine_for_shard(shard).begin() as conn:
            tables = [*keyspace_tables("user"), *keyspace_tables("course")]
            for table in reversed(tables):  # children before parents
                if table.name in _BY_USER:
                    where = _in(table.c.user_id, users) if users else None
                else:
                    ranges = taken.get((shard, table.name), ())
                    where = _in(table.c.id, ranges) if ranges else None
                if where is not None:
                    deleted += conn.execute(table.delete().where(where)).rowcount
            if shard in global_shards:
                for table in reversed(keyspace_tables("global")):
                    deleted += conn.execute(table.delete()).rowcount
    if events:
        every_user = [r for (_, t), rs in taken.items() if t == "users" for r in rs]
        if every_user:
            events_table = sa.table("user_events", sa.column("user_id"))
            with router.analytics_engine().begin() as conn:
                deleted += conn.execute(
                    events_table.delete().where(_in(events_table.c.user_id, every_user))
                ).rowcount
    log.info("sample load rolled back: %d rows deleted", deleted)
    return deleted
