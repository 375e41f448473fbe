"""The raw cross-server copy (MySQL/MariaDB through PyMySQL): every byte survives the trip
as server text and multi-row INSERTs, across chunks, statements and the read-ahead."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.models import metadata
from lms_db.moves import phases, rawcopy
from lms_db.moves.rows import utc_session
from lms_db.moves.scope import insert_order
from lms_db.schema.ddl import create_schema
from tests.backend.move_helpers import insert_raw, range_rows, seed_users

#: Text a hand-built statement gets wrong first: format characters, quotes, backslashes,
#: a NUL, a 4-byte character.
TRICKY = "100% %s %% ' \" \\ \\n \x00 😀 `x`"


@pytest.mark.parametrize("mode", ["literals", "no_backslash_escapes"])
def test_raw_copy_keeps_every_byte_across_chunks_and_statements(
    make_mariadb_database: Callable[[], URL], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Server-built row literals (the default), and raw values escaped by lmsdb for a
    destination in NO_BACKSLASH_ESCAPES mode."""
    source, dest = make_mariadb_database(), make_mariadb_database()
    for url in (source, dest):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            create_schema(conn)
        engine.dispose()
    seed_users(source, range(1000, 1012), "mariadb")
    engine = sa.create_engine(source)
    with engine.begin() as conn:
        utc_session(conn)
        insert_raw(
            conn,
            "audit_logs",
            [
                {"id": 99, "user_id": 1003, "action": TRICKY, "new_values": '{"a": "%d \\\\n"}'},
                {"id": 98, "user_id": 1004, "action": "", "new_values": None},
            ],
        )
    engine.dispose()
    # Small statements: every chunk is split over several INSERTs.
    monkeypatch.setattr(rawcopy, "MAX_STATEMENT_BYTES", 300)
    engines = [sa.create_engine(source), sa.create_engine(dest)]
    chunks: list[int] = []
    try:
        with (
            phases.data_connection(engines[0]) as src,
            phases.data_connection(engines[1]) as dst,
        ):
            assert rawcopy.supported(src, dst)
            if mode == "no_backslash_escapes":
                dst.exec_driver_sql(
                    "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')"
                )
                dst.commit()
            dbapi = dst.connection.dbapi_connection
            assert rawcopy.backslash_escapes(dbapi) == (mode == "literals")
            for scope in insert_order("user"):
                phases.copy_table(
                    src, dst, scope, 1000, 1012, None, 3, lambda _k, n: chunks.append(n)
                )
    finally:
        for e in engines:
            e.dispose()
    assert range_rows(dest, "user", 1000, 1012) == range_rows(source, "user", 1000, 1012)
    assert len(chunks) > len(insert_order("user"))  # several chunks per table
    engine = sa.create_engine(dest)
    with engine.connect() as conn:
        logs = metadata.tables["audit_logs"]
        got = conn.execute(sa.select(logs.c.action).where(logs.c.id == 99)).scalar_one()
    engine.dispose()
    assert got == TRICKY
