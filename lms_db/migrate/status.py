"""``lmsdb migrate status`` and ``plan``: where every database stands, what would run where.

Both only read: primaries and replicas are opened read-only, a missing SQLite file counts as
``base`` and is not created, and the catalog is not touched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import LmsDbError
from lms_db.migrate.blocking import blocking_statements, split_statements
from lms_db.migrate.database import Direction, read_revision, show_revision
from lms_db.migrate.replication import ReplicaState, read_replica
from lms_db.migrate.scripts import downgrade_steps, offline_sql, script_directory, upgrade_steps
from lms_db.migrate.targets import Member, preflight, registered_members, select_members
from lms_db.topology.spec import Topology

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardStatus:
    """One shard's primary and replicas.

    :param shard: the shard (``analytics`` for the analytics database).
    :param database: its primary (masked URL).
    :param revision: the primary's revision (``None``: base or unreadable).
    :param head: the newest revision of the history.
    :param pending: revisions the primary lacks, oldest first.
    :param replicas: each replica's revision and lag.
    :param error: why the primary could not be read, if it could not.
    """

    shard: str
    database: str
    revision: str | None
    head: str | None
    pending: tuple[str, ...]
    replicas: tuple[ReplicaState, ...] = ()
    error: str | None = None

    @property
    def at_head(self) -> bool:
        """The primary and every replica are at head."""
        return (
            self.error is None
            and self.revision == self.head
            and all(r.revision == self.head for r in self.replicas)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "shard": self.shard,
            "database": self.database,
            "revision": show_revision(self.revision),
            "head": show_revision(self.head),
            "at_head": self.at_head,
            "pending": list(self.pending),
            "replicas": [r.to_dict() for r in self.replicas],
            "error": self.error,
        }


def fleet_status(
    topology: Topology,
    *,
    target: str = "oltp",
    shards: Sequence[str] = (),
    root: Path | None = None,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> list[ShardStatus]:
    """Every selected primary's revision and pending revisions, every replica's revision and lag.

    An unreachable database is reported in its row, not raised.

    :raises UnknownObjectError: unknown target or shard.
    """
    registered = registered_members(topology, timeout=timeout) if target == "oltp" else []
    members = select_members(topology, target, shards, registered=registered)
    script = script_directory(target, root)
    head = script.get_current_head()

    def one(member: Member) -> ShardStatus:
        try:
            revision = read_revision(member.primary, timeout=timeout)
            pending = tuple(upgrade_steps(script, revision, head))
            error = None
        except LmsDbError as exc:
            revision, pending, error = None, (), exc.message
        replicas = tuple(read_replica(r, timeout=timeout, wanted=revision) for r in member.replicas)
        return ShardStatus(
            member.name, member.primary.display, revision, head, pending, replicas, error
        )

    with ThreadPoolExecutor(max_workers=min(8, len(members))) as pool:
        return list(pool.map(one, members))


@dataclass(frozen=True)
class ShardPlan:
    """What ``migrate up|down`` would do on one shard.

    :param shard: the shard.
    :param database: its primary (masked URL).
    :param dialect: the primary's dialect.
    :param current: its revision now.
    :param target: the revision it would reach.
    :param direction: ``up`` or ``down``.
    :param steps: the revisions that would run, in order.
    :param warnings: statements that may block writes (see :mod:`lms_db.migrate.blocking`).
    :param replicas: the replicas lmsdb would wait for (masked URLs).
    """

    shard: str
    database: str
    dialect: str
    current: str | None
    target: str | None
    direction: str
    steps: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    replicas: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "shard": self.shard,
            "database": self.database,
            "dialect": self.dialect,
            "current": show_revision(self.current),
            "target": show_revision(self.target),
            "direction": self.direction,
            "steps": list(self.steps),
            "warnings": list(self.warnings),
            "replicas": list(self.replicas),
        }


def plan_fleet(
    topology: Topology,
    *,
    target: str = "oltp",
    revision: str = "head",
    direction: Direction = "up",
    shards: Sequence[str] = (),
    root: Path | None = None,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> list[ShardPlan]:
    """What ``migrate up|down`` would run where, with blocking DDL flagged; changes nothing.

    :raises InputError: unknown shard or revision, unreachable primary (as for ``up``).
    """
    prepared = preflight(
        topology,
        target=target,
        revision=revision,
        shards=shards,
        root=root,
        timeout=timeout,
        check_catalog=False,
    )
    script = prepared.script

    @cache
    def warnings_for(dialect: str, down: str | None, rev: str, reverse: bool) -> tuple[str, ...]:
        span = f"{rev}:{down or 'base'}" if reverse else f"{down or 'base'}:{rev}"
        sql = offline_sql(target, span, dialect, root)
        return tuple(f"{rev}: {w}" for w in blocking_statements(split_statements(sql), dialect))

    def one(member: Member) -> ShardPlan:
        ref = member.primary
        current = read_revision(ref, timeout=timeout)
        warnings: list[str] = []
        if direction == "up":
            steps = tuple(upgrade_steps(script, current, prepared.revision))
            previous = current
            for rev in steps:
                warnings += warnings_for(ref.dialect, previous, rev, False)
                previous = rev
        else:
            pairs = downgrade_steps(script, current, prepared.revision)
            steps = tuple(rev for rev, _ in pairs)
            for rev, dest in pairs:
                warnings += warnings_for(ref.dialect, dest, rev, True)
        return ShardPlan(
            member.name,
            ref.display,
            ref.dialect,
            current,
            prepared.revision,
            direction,
            steps,
            tuple(warnings),
            tuple(r.display for r in member.replicas),
        )

    return [one(m) for m in prepared.members]
