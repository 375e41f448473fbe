"""Writers during a move lose nothing: one through the Router (retrying on RangeFrozen and
on the fence), one with a direct connection to the source (carried over during the copy,
refused after the freeze)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lms_db.errors import RangeFrozen
from lms_db.models import metadata
from lms_db.moves.engine import start_move
from lms_db.moves.plan import MoveRequest
from lms_db.moves.triggers import FENCE_MESSAGE
from lms_db.router import Router
from tests.backend.move_helpers import move_fleet, range_rows, seed_users
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    fixture_make_second_database,
    fixture_second_mariadb,
)

LO, HI = 1000, 1040
users, audit, profiles = (metadata.tables[n] for n in ("users", "audit_logs", "user_profiles"))


def _fenced(exc: BaseException) -> bool:
    return isinstance(exc, sa.exc.DBAPIError) and FENCE_MESSAGE in str(exc.orig)


def _busy(exc: BaseException) -> bool:
    """SQLite's "database is locked": the transaction was rolled back, nothing written."""
    return isinstance(exc, sa.exc.OperationalError) and "database is locked" in str(exc.orig)


class RouterWriter(threading.Thread):
    """Inserts, updates and deletes rows of the moving range through the Router, retrying
    refused writes, and records what it committed."""

    def __init__(self, router: Router) -> None:
        super().__init__(daemon=True)
        self.router = router
        self.stop = threading.Event()
        self.names: dict[int, str] = {}
        self.audit: dict[int, int] = {}
        self.refused = 0
        self.error: BaseException | None = None

    def _write(self, user_id: int, work: Any) -> None:
        while True:
            try:
                with self.router.engine_for("user", user_id).begin() as conn:
                    work(conn)
                return
            except RangeFrozen as exc:
                self.refused += 1
                time.sleep(min(exc.retry_after, 0.05))
            except sa.exc.DBAPIError as exc:
                if _busy(exc):
                    continue
                if not _fenced(exc):
                    raise
                self.refused += 1
                time.sleep(0.05)
                self.router.refresh()

    def run(self) -> None:
        ids = itertools.count(9_000_000)
        try:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                u = LO + n % (HI - LO)
                name = f"w{n}"
                self._write(
                    u,
                    lambda c, u=u, name=name: c.execute(
                        users.update().where(users.c.id == u).values(first_name=name)
                    ),
                )
                self.names[u] = name
                new_id = next(ids)
                self._write(
                    u,
                    lambda c, u=u, i=new_id: c.execute(
                        audit.insert().values(id=i, user_id=u, action="writer")
                    ),
                )
                self.audit[new_id] = u
                if n % 3 == 0:
                    gone = min(self.audit)
                    owner = self.audit[gone]
                    self._write(
                        owner, lambda c, i=gone: c.execute(audit.delete().where(audit.c.id == i))
                    )
                    del self.audit[gone]
        except BaseException as exc:  # reported by the test
            self.error = exc


class DirectWriter(threading.Thread):
    """Updates profiles of the range straight on the source until the fence refuses it."""

    def __init__(self, url: sa.URL) -> None:
        super().__init__(daemon=True)
        self.engine = sa.create_engine(url)
        self.bios: dict[int, str] = {}
        self.refused: BaseException | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for n in itertools.count():
                u = LO + n % (HI - LO)
                try:
                    with self.engine.begin() as conn:
                        conn.execute(
                            profiles.update()
                            .where(profiles.c.user_id == u)
                            .values(organization=f"direct {n} 😀")
                        )
                except sa.exc.DBAPIError as exc:
                    if _fenced(exc):
                        self.refused = exc
                        return
                    if _busy(exc):  # SQLite's single writer: rolled back, try again
                        continue
                    raise
                self.bios[u] = f"direct {n} 😀"
                time.sleep(0.002)
        except BaseException as exc:
            self.error = exc


@pytest.mark.parametrize("backend", ["mariadb", "postgresql", "sqlite"])
def test_writers_during_a_move_lose_nothing(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    fleet = move_fleet(request, tmp_path, backend)
    _, source, dest = fleet.shard_urls
    seed_users(source, range(LO, 1060), backend)
    with (
        Router.from_topology(fleet.topology, max_staleness=0.2) as router,
        Router.from_topology(fleet.topology, max_staleness=0.2) as writer_router,
    ):
        writer, direct = RouterWriter(writer_router), DirectWriter(source)
        writer.start()
        direct.start()
        time.sleep(0.3)
        result = start_move(
            router, MoveRequest("user", LO, HI, "shard-2", chunk_size=5, throttle=0.005)
        )
        time.sleep(0.5)  # the Router writer keeps writing on the new owner
        writer.stop.set()
        writer.join(30)
        direct.join(30)
    assert writer.error is None, writer.error
    assert direct.error is None, direct.error
    assert result.state == "done" and result.changes_applied > 0
    # The direct writer was refused by the source itself, and still is: an insert of a key
    # of the range fails; an update finds no row there any more (rowcount 0, not a success).
    assert direct.refused is not None
    with pytest.raises(sa.exc.DBAPIError, match=FENCE_MESSAGE), direct.engine.begin() as conn:
        conn.execute(audit.insert().values(id=8_000_000, user_id=LO, action="late"))
    with direct.engine.begin() as conn:
        late = conn.execute(
            profiles.update().where(profiles.c.user_id == LO).values(organization="late")
        )
        assert late.rowcount == 0
    direct.engine.dispose()

    moved = range_rows(dest, "user", LO, HI)
    assert sum(map(len, range_rows(source, "user", LO, HI).values())) == 0
    engine = sa.create_engine(dest)
    with engine.connect() as conn:
        names = dict(
            conn.execute(
                sa.select(users.c.id, users.c.first_name).where(users.c.id.in_(list(writer.names)))
            ).all()
        )
        audit_rows = dict(
            conn.execute(
                sa.select(audit.c.id, audit.c.user_id).where(audit.c.id >= 9_000_000)
            ).all()
        )
        bios = dict(
            conn.execute(
                sa.select(profiles.c.user_id, profiles.c.organization).where(
                    profiles.c.user_id.in_(list(direct.bios))
                )
            ).all()
        )
    engine.dispose()
    assert names == writer.names
    assert audit_rows == writer.audit
    assert bios == direct.bios
    assert len(moved["users"]) == HI - LO
