"""What ``sample load`` checks before it writes: the fleet is ready, nobody else is loading,
and the data is not there already.

- :func:`open_sample_router` checks every shard has the schema (and is the shard the
  catalog says it is) *before* the catalog is created or seeded: an unmigrated fleet is
  refused with nothing changed.
- :func:`load_guard` holds a fleet-wide ``sample-load`` journal entry while a load runs,
  taken under the catalog's map lock: a second load at the same time is refused (exit 2)
  instead of colliding on keys.  An entry whose holder process is gone (same host, dead
  pid) is closed as failed and taken over.
- A fleet that already holds users is refused (:class:`~lms_db.errors.AlreadyLoaded`, exit
  2) unless ``add`` asks for more data: new ids from the windows and a random stream of its
  own, so nothing collides with the rows already there.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from lms_db.catalog import close_journal_entry, open_entries, open_journal_entry
from lms_db.catalog.schema import begin
from lms_db.catalog.shard_map import lock_map
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import AlreadyLoaded, ConfigError, ConnectionFailed, InputError
from lms_db.migrate.targets import Member, check_identities, registered_members
from lms_db.router.router import Router
from lms_db.topology.engines import engine_for, short_reason
from lms_db.topology.spec import Topology

log = logging.getLogger(__name__)

#: The journal operation a running ``sample load`` holds.
SAMPLE_LOAD_OPERATION = "sample-load"


def open_sample_router(
    topology: Topology, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> Router:
    """A Router for ``load_sample``, after checking every shard is migrated.

    :raises ConfigError: a shard has no schema (nothing was created: not even the catalog).
    :raises TopologyMismatch: a shard is not the one the catalog recorded.
    :raises ConnectionFailed: a shard or the catalog cannot be reached.
    """
    registered = registered_members(topology, timeout=connect_timeout)
    members = [Member(s.name, s.primary, s.replicas) for s in topology.shards]
    members += [m for m in registered if m.name not in topology.shard_names]
    check_identities(topology, members, timeout=connect_timeout)
    for member in members:
        _check_schema(member, connect_timeout)
    return Router.from_topology(topology, seed=True, connect_timeout=connect_timeout)


def _check_schema(member: Member, timeout: float) -> None:
    ref = member.primary
    database = ref.url.database or ""
    missing = (
        f"shard {member.name} has no schema: run `lmsdb migrate up` first (nothing was changed)"
    )
    if ref.dialect == "sqlite" and database and not Path(database).exists():
        raise ConfigError(missing)
    engine = engine_for(ref, timeout=timeout, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            ready = sa.inspect(conn).has_table("users")
    except sa.exc.DBAPIError as exc:
        raise ConnectionFailed(
            f"{member.name}: cannot connect to {ref.display}: {short_reason(exc, ref.url.password)}"
        ) from exc
    finally:
        engine.dispose()
    if not ready:
        raise ConfigError(missing)


@contextmanager
def load_guard(router: Router, *, add: bool) -> Iterator[int]:
    """Hold the fleet's ``sample-load`` entry; yields how many users the fleet held before.

    :param router: the load's Router.
    :param add: more data is wanted on top of what is there.
    :raises InputError: another load is running.
    :raises AlreadyLoaded: the fleet holds users and ``add`` is false.
    """
    entry = _take(router)
    try:
        existing = _existing_users(router)
        if existing and not add:
            raise AlreadyLoaded(
                f"the fleet already holds {existing:,} users (an earlier sample load?): pass "
                "--add to add more with new ids, or load into an empty fleet; nothing was "
                "changed"
            )
        yield existing
    except BaseException as exc:
        message = getattr(exc, "message", type(exc).__name__)
        close_journal_entry(router.catalog, entry, state="failed", payload={"error": message})
        raise
    close_journal_entry(router.catalog, entry, state="done")


def _take(router: Router) -> int:
    with begin(router.catalog) as conn:
        lock_map(conn)
        for other in open_entries(conn, operation=SAMPLE_LOAD_OPERATION):
            if _holder_gone(other.holder):
                log.warning("closing stale sample-load entry %d of %s", other.id, other.holder)
                close_journal_entry(
                    conn, other.id, state="failed", payload={"error": "holder process gone"}
                )
                continue
            raise InputError(
                f"another sample load is running (journal entry {other.id}, held by "
                f"{other.holder} since {other.created_at:%Y-%m-%d %H:%M:%S} UTC): wait for "
                "it to finish"
            )
        return open_journal_entry(conn, operation=SAMPLE_LOAD_OPERATION, step="load")


def _holder_gone(holder: str) -> bool:
    """``host:pid`` names a process of this host that no longer runs."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _existing_users(router: Router) -> int:
    counts = router.scatter(
        "user",
        lambda _s, conn: int(conn.execute(sa.text("SELECT COUNT(*) FROM users")).scalar_one()),
        parallel=max(1, len(router.shards("user"))),
    )
    return sum(counts.values())
