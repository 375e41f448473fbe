"""Chunked checksums on real MariaDB (one server and two), PostgreSQL and SQLite.

Each test writes the same rows into two databases of one backend, changes something on one
side, and asserts what ``compare_checksums`` reports: nothing for equal data, the exact chunk
for a change, including the even-row rewrite that ``BIT_XOR(CRC32(...))`` cannot see.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from lms_db.errors import InputError
from lms_db.models import metadata
from lms_db.models.types import BigUnsigned, Json, Timestamp
from lms_db.moves.checksum import (
    METHOD_PYTHON,
    PkBounds,
    checksum_chunks,
    chunk_boundaries,
    compare_checksums,
)
from lms_db.moves.row_encoding import exact_read_columns
from lms_db.moves.scope import table_scope
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    fixture_make_second_database,
    fixture_second_mariadb,
)

edge_md = sa.MetaData()
#: One column of every kind the encoding treats on its own.
edge = sa.Table(
    "edge_cases",
    edge_md,
    sa.Column("id", BigUnsigned, primary_key=True, autoincrement=False),
    sa.Column("label", sa.String(50), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("amount", sa.Numeric(65, 30), nullable=True),
    sa.Column("price", sa.Numeric(10, 2), nullable=True),
    sa.Column("ratio", sa.Float().with_variant(sa.REAL(), "postgresql"), nullable=True),
    sa.Column("weight", sa.Double, nullable=True),
    sa.Column("big", BigUnsigned, nullable=True),
    sa.Column("doc", Json, nullable=True),
    sa.Column("happened", Timestamp, nullable=True),
    sa.Column("flag", sa.Boolean, nullable=True),
    mysql_charset="utf8mb4",
    mariadb_charset="utf8mb4",
)

#: The narrow, fixed-width table of the CRC32 blind spot (research §2.4).
narrow = sa.Table(
    "narrow",
    edge_md,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
)

BIG_UNSIGNED_MAX = 2**64 - 1
BIG_MAX = {"mariadb": BIG_UNSIGNED_MAX, "postgresql": 2**63 - 1, "sqlite": 2**63 - 1}
UTC = dt.UTC


def edge_rows(backend: str) -> list[dict[str, Any]]:
    """Rows with the values that break naive copies and naive checksums."""

    def dec(text: str) -> decimal.Decimal:
        return decimal.Decimal(text)

    rows: list[dict[str, Any]] = [
        {
            "id": 1,
            "label": "emoji 😀🎓 and ñ",
            "note": None,
            "amount": dec("9" * 35 + "." + "9" * 30),
            "price": dec("-99999999.99"),
            "ratio": 1.0000001192092896,
            "weight": 0.30000000000000004,
            "big": BIG_MAX[backend],
            "doc": {"b": 12345678901234567891, "a": [1, 2.5, "x"], "z": None},
            "happened": dt.datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC),
            "flag": True,
        },
        {
            "id": 2,
            "label": "",
            "note": "NULL",
            "amount": dec("-0." + "0" * 29 + "1"),
            "price": dec("0.00"),
            "ratio": 3.4028234663852886e38,
            "weight": 1.7976931348623157e308,
            "big": 0,
            "doc": {"a": 0.1, "nested": {"k": "😀"}},
            "happened": dt.datetime(2026, 10, 25, 1, 30, 0, tzinfo=UTC),
            "flag": False,
        },
        {
            "id": 3,
            "label": None,
            "note": "",
            "amount": None,
            "price": None,
            "ratio": None,
            "weight": 5e-324,
            "big": None,
            "doc": None,
            "happened": None,
            "flag": None,
        },
    ]
    rows += [
        {
            "id": i,
            "label": f"row {i}",
            "note": "x" * (i % 7),
            "amount": dec(f"{i}.5"),
            "price": dec(f"{i % 100}.25"),
            "ratio": i / 3,
            "weight": i * 1.1,
            "big": i * 1000,
            "doc": {"i": i},
            "happened": dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i),
            "flag": i % 2 == 0,
        }
        for i in range(4, 40)
    ]
    if backend == "sqlite":
        for row in rows:  # pysqlite has no DECIMAL: store exact text, as lmsdb's writers do
            for key in ("amount", "price"):
                row[key] = None if row[key] is None else str(row[key])
    return rows


@pytest.fixture(params=["mariadb", "postgresql", "sqlite"])
def two_databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Engine, Engine]]:
    """Two empty databases of one backend: ``(backend, source, destination)``."""
    backend = request.param
    if backend == "sqlite":
        urls = [sa.engine.make_url(f"sqlite:///{tmp_path / f'{n}.db'}") for n in ("a", "b")]
    else:
        make = request.getfixturevalue(f"make_{backend}_database")
        urls = [make(), make()]
    engines = [sa.create_engine(u) for u in urls]
    yield backend, engines[0], engines[1]
    for engine in engines:
        engine.dispose()


def load(engine: Engine, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Create ``table`` and insert ``rows``."""
    with engine.begin() as conn:
        table.create(conn)
        if table is edge and conn.dialect.name == "sqlite":
            plain = [
                sa.Column(c.name, sa.types.NULLTYPE)
                for c in table.columns
                if c.name in ("amount", "price")
            ]
            raw = sa.table(table.name, *plain)
            conn.execute(table.insert(), [{**r, "amount": None, "price": None} for r in rows])
            for r in rows:
                conn.execute(
                    raw.update()
                    .where(sa.literal_column("id") == r["id"])
                    .values(amount=r.get("amount"), price=r.get("price"))
                )
        else:
            conn.execute(table.insert(), rows)


def digests(
    engine: Engine,
    table: sa.Table,
    bounds: list[PkBounds],
    where: sa.ColumnElement[bool] | None = None,
    **kwargs: Any,
) -> list[Any]:
    with engine.connect() as conn:
        return checksum_chunks(conn, table, where, bounds, **kwargs)


def bounds_of(
    engine: Engine, table: sa.Table, chunk_rows: int, where: sa.ColumnElement[bool] | None = None
) -> list[PkBounds]:
    with engine.connect() as conn:
        return chunk_boundaries(conn, table, where, chunk_rows)


def compare(
    source: Engine,
    dest: Engine,
    table: sa.Table,
    chunk_rows: int = 10,
    where: sa.ColumnElement[bool] | None = None,
) -> list[Any]:
    bounds = bounds_of(source, table, chunk_rows, where)
    return compare_checksums(
        digests(source, table, bounds, where), digests(dest, table, bounds, where)
    )


def execute(engine: Engine, statement: Any) -> None:
    with engine.begin() as conn:
        conn.execute(statement)


def test_identical_rows_compare_equal_and_chunks_tile_the_keys(two_databases: Any) -> None:
    backend, source, dest = two_databases
    for engine in (source, dest):
        load(engine, edge, edge_rows(backend))
    bounds = bounds_of(source, edge, 10)
    assert [b.describe() for b in bounds] == ["(-inf, 10]", "(10, 20]", "(20, 30]", "(30, +inf)"]
    mine, theirs = digests(source, edge, bounds), digests(dest, edge, bounds)
    assert [d.rows for d in mine] == [10, 10, 10, 9]
    assert mine == theirs
    assert len({d.digest for d in mine}) == 4 and all(len(d.digest) == 32 for d in mine)


def test_one_changed_value_names_its_chunk(two_databases: Any) -> None:
    backend, source, dest = two_databases
    for engine in (source, dest):
        load(engine, edge, edge_rows(backend))
    execute(dest, edge.update().where(edge.c.id == 25).values(weight=25 * 1.1 + 1e-12))
    [mismatch] = compare(source, dest, edge)
    assert (mismatch.table, mismatch.bounds.describe()) == ("edge_cases", "(20, 30]")
    assert mismatch.source_rows == mismatch.dest_rows == 10
    assert "edge_cases chunk (20, 30]: same row count, contents differ" in mismatch.describe()


def test_extra_missing_and_trailing_rows_are_found(two_databases: Any) -> None:
    backend, source, dest = two_databases
    for engine in (source, dest):
        load(engine, edge, edge_rows(backend))
    execute(dest, edge.delete().where(edge.c.id == 5))
    # A row beyond the source's largest key still lands in the last (open) chunk.
    execute(dest, edge.insert().values(id=10_000, label="stray"))
    found = {(m.bounds.describe(), m.source_rows, m.dest_rows) for m in compare(source, dest, edge)}
    assert found == {("(-inf, 10]", 10, 9), ("(30, +inf)", 9, 10)}


def test_same_value_rewritten_in_two_rows_is_caught(two_databases: Any) -> None:
    """The even-row remap: CRC32-XOR digests stay equal (MariaDB shows it), ours differ."""
    backend, source, dest = two_databases
    rows = [
        {"id": 100 + i, "user_id": 5000 + i, "status": 1 if i in (3, 6) else 3} for i in range(10)
    ]
    for engine in (source, dest):
        load(engine, narrow, rows)
    execute(dest, narrow.update().where(narrow.c.status == 1).values(status=2))
    if backend == "mariadb":
        crc = (
            "SELECT COUNT(*), BIT_XOR(CAST(CRC32(CONCAT_WS('#', id, user_id, status)) "
            "AS UNSIGNED)) FROM narrow"
        )
        with source.connect() as a, dest.connect() as b:
            assert a.exec_driver_sql(crc).one() == b.exec_driver_sql(crc).one()
    [mismatch] = compare(source, dest, narrow, chunk_rows=100)
    assert mismatch.source_rows == mismatch.dest_rows == 10
    assert mismatch.source_digest != mismatch.dest_digest


def test_null_empty_string_and_the_string_null_differ(two_databases: Any) -> None:
    _backend, source, dest = two_databases
    rows: list[dict[str, Any]] = [
        {"id": 1, "label": None, "note": ""},
        {"id": 2, "label": "", "note": "NULL"},
    ]
    for engine in (source, dest):
        load(engine, edge, rows)
    bounds = bounds_of(source, edge, 10)
    original = digests(source, edge, bounds)
    for change in ({"label": ""}, {"label": "NULL"}, {"note": None}):
        execute(dest, edge.update().where(edge.c.id == 1).values(**change))
        assert digests(dest, edge, bounds) != original, change
        execute(dest, edge.update().where(edge.c.id == 1).values(label=None, note=""))
    assert digests(dest, edge, bounds) == original
    # Content shifted from one column to the next is a change too.
    execute(dest, edge.update().where(edge.c.id == 2).values(label="N", note="ULL"))
    execute(source, edge.update().where(edge.c.id == 2).values(label="NU", note="LL"))
    assert compare(source, dest, edge)


def copy_edge_rows(source: Engine, dest: Engine, columns: list[Any]) -> None:
    with source.connect() as conn:
        copied = [dict(r._mapping) for r in conn.execute(sa.select(*columns).order_by(edge.c.id))]
    assert copied[0]["label"] == "emoji 😀🎓 and ñ"
    load(dest, edge, copied)


def test_rows_copied_through_sqlalchemy_compare_equal(two_databases: Any) -> None:
    """Emoji, JSON (re-serialized), DECIMAL extremes, FLOAT, BIGINT max survive a copy."""
    backend, source, dest = two_databases
    load(source, edge, edge_rows(backend))
    columns = exact_read_columns(edge, source.dialect)
    if backend == "sqlite":  # pysqlite has no DECIMAL: read those two columns as stored
        columns = [
            sa.type_coerce(c, sa.types.NULLTYPE).label(c.name)
            if c.name in ("amount", "price")
            else c
            for c in columns
        ]
    copy_edge_rows(source, dest, columns)
    assert compare(source, dest, edge) == []
    execute(dest, edge.update().where(edge.c.id == 1).values(big=BIG_MAX[backend] - 1))
    assert [m.bounds.describe() for m in compare(source, dest, edge)] == ["(-inf, 10]"]


def test_a_float_copied_as_the_driver_reads_it_is_caught(
    make_mariadb_database: Callable[[], URL],
) -> None:
    """MariaDB sends FLOAT with 6 digits: a naive copy changes values and verify says so."""
    source, dest = (sa.create_engine(make_mariadb_database()) for _ in range(2))
    try:
        load(source, edge, edge_rows("mariadb"))
        copy_edge_rows(source, dest, list(edge.columns))
        assert {m.bounds.describe() for m in compare(source, dest, edge)} == {
            "(-inf, 10]",
            "(10, 20]",
            "(20, 30]",
            "(30, +inf)",
        }
    finally:
        source.dispose()
        dest.dispose()


def test_json_key_order_and_spacing_do_not_matter_but_values_do(two_databases: Any) -> None:
    backend, source, dest = two_databases
    for engine in (source, dest):
        with engine.begin() as conn:
            edge.create(conn)
    texts = (
        '{"b": 12345678901234567891, "a": [1, 0.30000000000000004]}',
        '{"a":[1,0.30000000000000004],"b":12345678901234567891}',
        '{"a":[1,0.3],"b":12345678901234567891}',
    )
    value = "CAST(:d AS jsonb)" if backend == "postgresql" else ":d"
    for engine, text in ((source, texts[0]), (dest, texts[1])):
        execute(
            engine,
            sa.text(f"INSERT INTO edge_cases (id, doc) VALUES (1, {value})").bindparams(d=text),
        )
    assert compare(source, dest, edge) == []
    execute(
        dest, sa.text(f"UPDATE edge_cases SET doc = {value} WHERE id = 1").bindparams(d=texts[2])
    )
    assert len(compare(source, dest, edge)) == 1


def test_session_time_zone_does_not_change_a_timestamp_digest(
    make_mariadb_database: Callable[[], URL],
) -> None:
    engine = sa.create_engine(make_mariadb_database())
    try:
        load(engine, edge, edge_rows("mariadb"))
        bounds = bounds_of(engine, edge, 100)
        with engine.connect() as conn:
            utc = checksum_chunks(conn, edge, None, bounds)
            conn.exec_driver_sql("SET time_zone = '+05:30'")
            shifted = checksum_chunks(conn, edge, None, bounds)
            assert conn.exec_driver_sql("SELECT @@session.time_zone").scalar() == "+05:30"
        assert utc == shifted
    finally:
        engine.dispose()


def test_two_mariadb_servers_agree_on_the_same_rows(
    make_mariadb_database: Callable[[], URL], make_second_database: Callable[[], URL]
) -> None:
    engines = [sa.create_engine(make_mariadb_database()), sa.create_engine(make_second_database())]
    try:
        for engine in engines:
            load(engine, edge, edge_rows("mariadb"))
        assert compare(engines[0], engines[1], edge) == []
        execute(engines[1], edge.update().where(edge.c.id == 2).values(label="😀"))
        assert [m.bounds.describe() for m in compare(engines[0], engines[1], edge)] == [
            "(-inf, 10]"
        ]
    finally:
        for engine in engines:
            engine.dispose()


def test_python_method_agrees_with_itself_on_a_server_and_methods_do_not_mix(
    two_databases: Any,
) -> None:
    backend, source, dest = two_databases
    for engine in (source, dest):
        load(engine, edge, edge_rows(backend))
    bounds = bounds_of(source, edge, 10)
    streamed = digests(source, edge, bounds, method=METHOD_PYTHON)
    assert compare_checksums(streamed, digests(dest, edge, bounds, method=METHOD_PYTHON)) == []
    if backend != "sqlite":
        with pytest.raises(InputError, match="different methods"):
            compare_checksums(digests(source, edge, bounds), streamed)


def test_range_scope_of_a_via_table_is_chunked_and_compared(two_databases: Any) -> None:
    """``where`` from scope.py: module_lessons follow their module's course."""
    _backend, source, dest = two_databases
    modules, lessons = metadata.tables["course_modules"], metadata.tables["module_lessons"]
    stamp = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)  # not the server's clock: same both sides
    for engine in (source, dest):
        with engine.begin() as conn:
            for table in (metadata.tables["courses"], modules, lessons):
                table.create(conn)
            conn.execute(
                metadata.tables["courses"].insert(),
                [
                    {
                        "id": c,
                        "uuid": f"uuid-{c}",
                        "instructor_id": 1,
                        "title": f"c{c}",
                        "slug": f"c{c}",
                    }
                    for c in (1, 2)
                ],
            )
            conn.execute(
                modules.insert(),
                [{"id": m, "course_id": 1 if m < 3 else 2, "title": f"m{m}"} for m in range(1, 5)],
            )
            conn.execute(
                lessons.insert(),
                [
                    {
                        "id": i,
                        "module_id": 1 + i % 4,
                        "title": f"l{i}",
                        "type": "video",
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                    for i in range(1, 41)
                ],
            )
    where = table_scope(lessons).in_range(1, 2)  # course 1: modules 1 and 2
    bounds = bounds_of(source, lessons, 5, where)
    assert sum(d.rows for d in digests(source, lessons, bounds, where)) == 20
    assert compare(source, dest, lessons, 5, where) == []
    execute(dest, lessons.update().where(lessons.c.id == 4).values(title="changed"))  # module 1
    execute(dest, lessons.update().where(lessons.c.id == 3).values(title="changed"))  # course 2
    [mismatch] = compare(source, dest, lessons, 5, where)
    assert mismatch.bounds.describe() == "(-inf, 9]"


def test_bad_chunk_size_is_input_error(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn, pytest.raises(InputError, match="at least 1 row"):
        chunk_boundaries(conn, edge, None, 0)


composite = sa.Table(
    "composite_pk",
    edge_md,
    sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("note", sa.String(20), nullable=True),
)


def test_a_composite_primary_key_chunks_by_row_value(two_databases: Any) -> None:
    _backend, source, dest = two_databases
    rows = [{"user_id": u, "seq": s, "note": f"{u}/{s}"} for u in range(1, 6) for s in range(4)]
    for engine in (source, dest):
        load(engine, composite, rows)
    bounds = bounds_of(source, composite, 6)
    assert [b.describe() for b in bounds] == [
        "(-inf, (2, 1)]",
        "((2, 1), (3, 3)]",
        "((3, 3), (5, 1)]",
        "((5, 1), +inf)",
    ]
    assert [d.rows for d in digests(source, composite, bounds)] == [6, 6, 6, 2]
    assert compare(source, dest, composite, 6) == []
    execute(
        dest,
        composite.update().where(composite.c.user_id == 4, composite.c.seq == 0).values(note=None),
    )
    [mismatch] = compare(source, dest, composite, 6)
    assert mismatch.bounds.describe() == "((3, 3), (5, 1)]"
