"""``lmsdb schema check``: every live primary and replica compared with the models.

Each database is opened read-only and compared by :func:`lms_db.schema.compare.compare_database`
(Alembic's autogenerate comparison plus index kinds, ``ON UPDATE``, triggers, partitions,
views and row-level security).  Shard primaries and replicas are compared with
``lms_db.metadata``; the analytics database, when the topology has one, with
``lms_db.analytics_metadata``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import DriftDetected
from lms_db.migrate.database import current_revision, open_engine
from lms_db.migrate.targets import ANALYTICS_MEMBER, registered_members, select_members
from lms_db.models import analytics_metadata, metadata
from lms_db.schema.compare import compare_database
from lms_db.topology.engines import connect_check, short_reason
from lms_db.topology.spec import DatabaseRef, Topology

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseDrift:
    """How one live database differs from the models.

    :param name: ``<shard> primary``, ``<shard> replica <n>`` or ``analytics primary``.
    :param shard: the shard (``analytics`` for the analytics database).
    :param role: ``primary`` or ``replica``.
    :param database: the database (masked URL).
    :param revision: its ``alembic_version`` (``None``: none).
    :param diffs: one readable line per difference.
    """

    name: str
    shard: str
    role: str
    database: str
    revision: str | None
    diffs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "shard": self.shard,
            "role": self.role,
            "database": self.database,
            "revision": self.revision,
            "drift": bool(self.diffs),
            "diffs": list(self.diffs),
        }


@dataclass(frozen=True)
class DriftReport:
    """Every database checked.

    :param databases: in topology order, primaries before their replicas.
    """

    databases: tuple[DatabaseDrift, ...]

    @property
    def drifted(self) -> tuple[DatabaseDrift, ...]:
        """The databases that differ from the models."""
        return tuple(d for d in self.databases if d.diffs)

    def raise_for_drift(self) -> None:
        """Raise when any database differs from the models.

        :raises DriftDetected: naming the first database and its first difference;
            ``diffs`` holds every database's lines.
        """
        drifted = self.drifted
        if not drifted:
            return
        first = drifted[0]
        more = sum(len(d.diffs) for d in drifted) - 1
        tail = f" (and {more} more difference(s))" if more else ""
        raise DriftDetected(
            f"drift in {len(drifted)} of {len(self.databases)} database(s): "
            f"{first.name}: {first.diffs[0]}{tail}",
            diffs={d.name: list(d.diffs) for d in drifted},
            details=self.to_dict(),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"ok": not self.drifted, "databases": [d.to_dict() for d in self.databases]}


@dataclass(frozen=True)
class _Check:
    name: str
    shard: str
    role: str
    ref: DatabaseRef
    metadata: sa.MetaData


def check_drift(
    topology: Topology,
    *,
    shards: Sequence[str] = (),
    include_analytics: bool = True,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> DriftReport:
    """Compare every selected primary and replica (and the analytics database) with the models.

    Every database is reached first, so an unreachable one stops the check before any
    comparison (exit 2).

    :param topology: the validated topology.
    :param shards: only these shards (all when empty; the analytics database is then left out).
    :param include_analytics: also check the analytics database when the topology has one.
    :param timeout: seconds to wait for each server.
    :raises UnknownObjectError: an unknown shard name.
    :raises ConnectionFailed: a database is unreachable or refuses the login.
    """
    checks = []
    registered = registered_members(topology, timeout=timeout)
    for member in select_members(topology, "oltp", shards, registered=registered):
        checks.append(
            _Check(f"{member.name} primary", member.name, "primary", member.primary, metadata)
        )
        for index, replica in enumerate(member.replicas):
            checks.append(
                _Check(f"{member.name} replica {index}", member.name, "replica", replica, metadata)
            )
    if include_analytics and not shards and topology.analytics is not None:
        checks.append(
            _Check(
                f"{ANALYTICS_MEMBER} primary",
                ANALYTICS_MEMBER,
                "primary",
                topology.analytics,
                analytics_metadata,
            )
        )
    for check in checks:
        connect_check(
            check.ref,
            timeout,
            f"shard {check.name}" if check.shard != ANALYTICS_MEMBER else "the analytics database",
        )
    # compare_database silences some Alembic warnings with catch_warnings, which is not
    # thread-safe: install the same filter around the whole pool so every thread sees it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*expression-based index '\w+_tsv'")
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(checks)))) as pool:
            found = list(pool.map(lambda c: _compare(c, timeout), checks))
    return DriftReport(tuple(found))


def _compare(check: _Check, timeout: float) -> DatabaseDrift:
    ref = check.ref
    database = ref.url.database or ""
    if ref.dialect == "sqlite" and database and not Path(database).exists():
        return DatabaseDrift(
            check.name,
            check.shard,
            check.role,
            ref.display,
            None,
            ("database file does not exist: not migrated",),
        )
    engine = open_engine(ref, timeout=timeout, read_only=True)
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
            diffs = compare_database(conn, check.metadata)
            conn.rollback()
    except sa.exc.DBAPIError as exc:
        reason = short_reason(exc, ref.url.password)
        return DatabaseDrift(
            check.name, check.shard, check.role, ref.display, None, (f"cannot compare: {reason}",)
        )
    finally:
        engine.dispose()
    if revision is None:
        diffs = ["no lmsdb revision (alembic_version missing or empty)", *diffs]
    return DatabaseDrift(check.name, check.shard, check.role, ref.display, revision, tuple(diffs))
