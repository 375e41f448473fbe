"""The guarded delete's one-statement lock: hashing with ``lock=True`` holds the rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lms_db.moves.checksum import PkBounds, checksum_chunks

pytestmark = pytest.mark.mariadb

MD = sa.MetaData()
held = sa.Table(
    "archive_lock_t",
    MD,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("v", sa.Integer),
)


def test_locked_checksum_blocks_writers_until_commit(mariadb_engine: sa.Engine) -> None:
    MD.create_all(mariadb_engine)
    with mariadb_engine.begin() as conn:
        conn.execute(held.insert(), [{"id": i, "v": i} for i in range(1, 11)])
    where = held.c.id.between(3, 6)
    with mariadb_engine.connect() as locker, mariadb_engine.connect() as writer:
        locker.begin()
        [digest] = checksum_chunks(locker, held, where, [PkBounds(None, None)], lock=True)
        assert digest.rows == 4
        writer.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1")
        with pytest.raises(sa.exc.OperationalError, match="Lock wait timeout"):
            writer.execute(held.update().where(held.c.id == 4).values(v=0))
        writer.rollback()
        writer.execute(held.update().where(held.c.id == 9).values(v=0))  # outside: free
        writer.commit()
        locker.rollback()
    with mariadb_engine.connect() as conn:
        [again] = checksum_chunks(conn, held, where, [PkBounds(None, None)])
    assert (again.rows, again.digest) == (digest.rows, digest.digest)
