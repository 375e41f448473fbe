"""The archive's codec and object store: exact values on every backend, a real S3 endpoint."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from lms_db.archive.chunks import read_candidates
from lms_db.archive.codec import (
    ArchiveFormatError,
    Chunk,
    decode_chunk,
    encode_chunk,
    same_row,
)
from lms_db.archive.errors import StoreError, StoreInputError, VerificationFailed
from lms_db.archive.s3 import Encryption, Store, StoreSettings
from lms_db.archive.tables import insert_rows, select_rows, utc_sessions
from lms_db.fleet.rawread import fast_url, mysqlclient_available, read_raw
from lms_db.models.types import BigUnsigned, Json, Timestamp
from tests.backend.s3_helpers import S3Endpoint, fixture_bucket, fixture_s3  # noqa: F401

EDGE = sa.MetaData()
edge = sa.Table(
    "archive_edge",
    EDGE,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column(
        "text",
        sa.String(100).with_variant(mysql.VARCHAR(100, charset="utf8mb4"), "mysql", "mariadb"),
    ),
    # A binary collation: mysqlclient flags it BINARY like a VARBINARY, yet it is text.
    sa.Column(
        "code",
        sa.String(40).with_variant(
            mysql.VARCHAR(40, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
        ),
    ),
    sa.Column("doc", Json),
    sa.Column("amount", sa.Numeric(12, 4)),
    sa.Column("at", Timestamp, nullable=True),
    sa.Column("f4", sa.Float().with_variant(mysql.FLOAT(), "mysql", "mariadb")),
    sa.Column("f8", sa.Double()),
    sa.Column("big", BigUnsigned),
    sa.Column("blob", sa.LargeBinary),
    sa.Column("flag", sa.Boolean),
    mysql_charset="utf8mb4",
)

ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "text": "emoji \U0001f600 and ℃",
        "code": "Zoë-\U0001f600",
        "doc": {"a": [1, 2.5, "\U0001f600"], "b": None},
        "amount": Decimal("12345678.0100"),
        "at": datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=UTC),
        "f4": 0.1,
        "f8": 0.1 + 0.2,
        "big": 2**63 - 1,
        "blob": b"\x00\xff\x10",
        "flag": True,
    },
    {
        "id": 2,
        "text": "",
        "code": None,
        "doc": None,
        "amount": None,
        "at": None,
        "f4": None,
        "f8": None,
        "big": None,
        "blob": None,
        "flag": None,
    },
    {
        "id": 3,
        "text": None,
        "code": "",
        "doc": [],
        "amount": Decimal("-0.0001"),
        "at": datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        "f4": -3.4028234e38,
        "f8": 1.7976931348623157e308,
        "big": 0,
        "blob": b"",
        "flag": False,
    },
]


def _raw(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r) for r in conn.execute(select_rows(edge, conn.dialect.name).order_by(edge.c.id))
        ]


def test_rows_survive_archive_and_restore_exactly(any_engine: sa.Engine) -> None:
    engine = utc_sessions(any_engine)
    dialect = engine.dialect.name
    EDGE.create_all(engine)
    rows = [dict(r) for r in ROWS]
    if dialect in ("mysql", "mariadb"):
        rows[0]["big"] = 2**64 - 1  # BIGINT UNSIGNED at its maximum
    with engine.begin() as conn:
        conn.execute(edge.insert(), rows)  # written through SQLAlchemy's own types
    before = _raw(engine)
    names = [c.name for c in edge.columns]
    blob = encode_chunk(Chunk({"archive_edge": names}, {"archive_edge": before}))
    chunk = decode_chunk(blob)
    assert chunk.rows["archive_edge"] == before
    with engine.begin() as conn:
        conn.execute(edge.delete())
        insert_rows(conn, edge, chunk.records("archive_edge"))
    after = _raw(engine)
    assert after == before
    # The typed view (what the application reads) is unchanged too.
    with engine.connect() as conn:
        typed = conn.execute(sa.select(edge).order_by(edge.c.id)).all()
    assert typed[0].text == ROWS[0]["text"]
    assert typed[0].amount == Decimal("12345678.0100")
    assert typed[0].f8 == 0.1 + 0.2
    assert typed[1].text == "" and typed[2].text is None
    if dialect in ("mysql", "mariadb"):
        assert typed[0].big == 2**64 - 1


def test_raw_text_reads_archive_and_restore_exactly(any_engine: sa.Engine) -> None:
    """Format 2: rows read as the server's text (MySQL/MariaDB) decode to exactly the
    values a typed read gives, and restore identical rows; elsewhere the read stays typed
    (format 1)."""
    engine = utc_sessions(any_engine)
    dialect = engine.dialect.name
    EDGE.create_all(engine)
    rows = [dict(r) for r in ROWS]
    if dialect in ("mysql", "mariadb"):
        rows[0]["big"] = 2**64 - 1
    with engine.begin() as conn:
        conn.execute(edge.insert(), rows)
    typed = _raw(engine)
    with engine.connect() as conn:
        raw, types = read_candidates(conn, select_rows(edge, dialect).order_by(edge.c.id), edge)
    names = [c.name for c in edge.columns]
    chunk = Chunk({"archive_edge": names}, {"archive_edge": raw}, types=None)
    if dialect in ("mysql", "mariadb"):
        assert types is not None
        assert all(isinstance(v, str | bytes) or v is None for r in raw for v in r)
        chunk = Chunk({"archive_edge": names}, {"archive_edge": raw}, types={"archive_edge": types})
    else:
        assert types is None and raw == typed
    blob = encode_chunk(chunk)
    decoded = decode_chunk(blob)
    assert decoded.digest() == chunk.digest()  # what the manifest records
    assert len(decoded.rows["archive_edge"]) == len(typed)
    for got, want in zip(decoded.rows["archive_edge"], typed, strict=True):
        assert same_row(got, want), (got, want)
    with engine.begin() as conn:
        conn.execute(edge.delete())
        insert_rows(conn, edge, decoded.records("archive_edge"))
    assert _raw(engine) == typed


@pytest.mark.parametrize("reader", ["pymysql", "mysqlclient"])
def test_both_mysql_readers_store_the_same_bytes(mariadb_engine: sa.Engine, reader: str) -> None:
    """The raw read through mysqlclient (C) gives exactly PyMySQL's text, so the object's
    row lines are byte for byte the same whichever driver read them."""
    if reader == "mysqlclient" and not mysqlclient_available():
        pytest.skip("mysqlclient (the fast extra) is not installed")
    EDGE.create_all(mariadb_engine)
    rows = [dict(r) for r in ROWS]
    rows[0]["big"] = 2**64 - 1
    with mariadb_engine.begin() as conn:
        conn.execute(edge.insert(), rows)
    url = mariadb_engine.url.set(drivername="mysql+pymysql")
    engines = {
        name: utc_sessions(sa.create_engine(fast_url(url, name))) for name in ("pymysql", reader)
    }
    try:
        assert engines[reader].dialect.driver == (
            "mysqldb" if reader == "mysqlclient" else "pymysql"
        )
        read: dict[str, tuple[list[Any], list[int] | None]] = {}
        for name, engine in engines.items():
            with engine.connect() as conn:
                query = select_rows(edge, "mariadb").order_by(edge.c.id)
                read[name] = read_candidates(conn, query, edge)
    finally:
        for engine in engines.values():
            engine.dispose()
    assert read[reader] == read["pymysql"]
    names = [c.name for c in edge.columns]
    blobs = {}
    for name, (raw, types) in read.items():
        assert types is not None
        chunk = Chunk({"archive_edge": names}, {"archive_edge": raw}, types={"archive_edge": types})
        blobs[name] = encode_chunk(chunk)
    assert blobs[reader] == blobs["pymysql"]
    code = names.index("code")
    assert read[reader][0][0][code] == "Zoë-\U0001f600"  # text, not bytes
    assert read[reader][0][0][names.index("blob")] == b"\x00\xff\x10"


def test_mysqlclient_text_that_arrives_as_bytes_is_decoded(mariadb_engine: sa.Engine) -> None:
    """A column the model declares text but the driver hands over as bytes (a converter
    keyed on the BINARY flag would do so for ``_bin`` collations) is decoded as UTF-8; one
    declared binary stays bytes."""
    if not mysqlclient_available():
        pytest.skip("mysqlclient (the fast extra) is not installed")
    url = mariadb_engine.url.set(drivername="mysql+pymysql")
    engine = sa.create_engine(fast_url(url, "mysqlclient"))
    query = sa.select(
        sa.type_coerce(sa.cast(sa.literal("Zoë \U0001f600"), sa.LargeBinary), sa.types.NullType()),
        sa.type_coerce(sa.cast(sa.literal("Zoë"), sa.LargeBinary), sa.types.NullType()),
    )
    try:
        with engine.connect() as conn:
            raw = read_raw(conn, query, [False, True])
    finally:
        engine.dispose()
    assert raw is not None
    assert raw[0] == [("Zoë \U0001f600", "Zoë".encode())]


def test_a_damaged_object_is_refused() -> None:
    blob = encode_chunk(Chunk({"t": ["a"]}, {"t": [(1,), (2,)]}))
    with pytest.raises(ArchiveFormatError):
        decode_chunk(blob[:-3])
    with pytest.raises(ArchiveFormatError):
        decode_chunk(b"not zstd at all")


def test_store_put_verify_head_and_corruption(s3: S3Endpoint, bucket: str) -> None:
    store = Store(StoreSettings(bucket, endpoint_url=s3.url, region="us-east-1"))
    store.check_bucket()
    data = b"payload" * 100
    sha = store.put("p/a.zst", data, storage_class="STANDARD_IA", encryption=Encryption("AES256"))
    stored = store.verify("p/a.zst", size=len(data), sha256=sha)
    assert stored.storage_class == "STANDARD_IA"
    assert stored.encryption == "AES256"
    assert stored.sha256 == sha
    # Overwritten behind lmsdb's back: same size, other bytes.
    s3.client().put_object(Bucket=bucket, Key="p/a.zst", Body=b"X" * len(data))
    with pytest.raises(VerificationFailed):
        store.verify("p/a.zst", size=len(data), sha256=sha)
    with pytest.raises(VerificationFailed):
        store.verify("p/missing", size=1, sha256=sha)
    assert list(store.keys("p/")) == ["p/a.zst"]
    store.delete("p/a.zst")
    assert store.head("p/a.zst") is None
    # A cold object cannot be read back: its HEAD's size and stored SHA-256 verify it.
    sha = store.put("p/cold.zst", data, storage_class="GLACIER")
    cold = store.verify("p/cold.zst", size=len(data), sha256=sha, storage_class="GLACIER")
    assert cold.storage_class == "GLACIER" and not cold.readable and cold.sha256 == sha
    with pytest.raises(VerificationFailed, match="size"):
        store.verify("p/cold.zst", size=len(data) + 1, sha256=sha)  # GET refused, then HEAD


def test_store_errors_are_one_line_without_secrets(s3: S3Endpoint) -> None:
    missing = Store(StoreSettings("no-such-bucket-here", endpoint_url=s3.url, region="us-east-1"))
    with pytest.raises(StoreInputError, match="does not exist"):
        missing.check_bucket()
    with pytest.raises(StoreError) as caught:
        missing.put("k", b"x")
    assert "\n" not in caught.value.message
    assert "testing-secret" not in caught.value.message
    dead = Store(StoreSettings("b", endpoint_url="http://127.0.0.1:9", region="us-east-1"))
    with pytest.raises(StoreInputError, match="cannot reach the S3 endpoint"):
        dead.check_bucket()
