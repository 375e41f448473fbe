"""Rows to compressed JSON Lines and back, every value's type kept exactly.

Rows are read with the driver's own conversions only (no SQLAlchemy type processing), so a
value is what the server sent; each one is written as JSON with a tag where JSON has no
type of its own:

=========================  =====================================================
value                      JSON
=========================  =====================================================
``None`` (NULL)            ``null`` (never confused with ``""``)
``str``, ``int``, ``bool``  themselves (``int`` has no size limit: BIGINT UNSIGNED)
``float``                  a number written with ``repr``: reads back bit for bit
``Decimal``                ``{"$d": "12.50"}`` (the text, scale kept)
``datetime``               ``{"$t": "2024-01-31T12:00:00.000001+00:00"}``; MySQL
                           TIMESTAMPs are read in a UTC session, so naive means UTC
``date`` / ``time``        ``{"$date": ...}`` / ``{"$time": ...}``
``timedelta`` (MySQL TIME) ``{"$td": [days, seconds, microseconds]}``
``bytes``                  ``{"$b": base64}``
=========================  =====================================================

JSON columns are read as their text (PostgreSQL: ``jsonb::text``, its canonical form) and
stored as that text, so nothing re-renders a document.

An object is one zstd frame of lines: a header line, then one line per row,
``["table", [values...]]``, parents before their children.

Format 2 (``lmsdb-archive/2``, written by MySQL/MariaDB archive runs): rows read raw
(:mod:`lms_db.fleet.rawread`), so every value is the server's text (``str``, ``null``,
binary ``{"$b": ...}``), and the header's ``types`` gives each column's MySQL field type
code.  Decoding applies PyMySQL's own decoders to that text: the same values a typed read
gives.  Format 1 objects (typed values, above) still decode.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson
import zstandard

from lms_db.errors import OperationError
from lms_db.fleet.rawread import typed_row

#: Format tag of a typed archive object's header.
FORMAT = "lmsdb-archive/1"
#: Format tag of an object of raw text values with their MySQL type codes.
FORMAT_RAW = "lmsdb-archive/2"
FORMATS = (FORMAT, FORMAT_RAW)
#: zstd level: 3 is zstd's default, fast enough to keep up with a DELETE.
ZSTD_LEVEL = 3

Row = tuple[Any, ...]


class ArchiveFormatError(OperationError):
    """An object is not a readable lmsdb archive (corrupt, truncated, another format)."""

    code = "archive_format_error"


_PLAIN = (str, int, float, bool, type(None))


def encode_value(value: Any) -> Any:
    """One column value as JSON-ready data (see the module's table)."""
    if type(value) in _PLAIN or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    raise ArchiveFormatError(f"cannot archive a value of type {type(value).__name__}")


def decode_value(data: Any) -> Any:
    """The value :func:`encode_value` wrote."""
    if not isinstance(data, dict):
        return data
    if len(data) != 1:
        raise ArchiveFormatError(f"unknown tagged value {sorted(data)}")
    tag, inner = next(iter(data.items()))
    if tag == "$d":
        return Decimal(inner)
    if tag == "$t":
        return datetime.fromisoformat(inner)
    if tag == "$date":
        return date.fromisoformat(inner)
    if tag == "$time":
        return time.fromisoformat(inner)
    if tag == "$td":
        return timedelta(days=inner[0], seconds=inner[1], microseconds=inner[2])
    if tag == "$b":
        return base64.b64decode(inner)
    raise ArchiveFormatError(f"unknown value tag {tag!r}")


def encode_row(row: Sequence[Any]) -> list[Any]:
    return [encode_value(v) for v in row]


def row_line(table: str, row: Sequence[Any]) -> bytes:
    """One row's line (no newline): compact, keys sorted, non-ASCII kept as UTF-8."""
    # ``default`` is called only for values JSON has no type for: the same text as
    # ``encode_row`` gives, without a Python call per plain value.
    return json.dumps(
        [table, row],
        default=encode_value,
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    ).encode("utf-8")


def raw_row_line(table: str, row: Sequence[Any]) -> bytes:
    """:func:`row_line` of a raw row (``str``, ``None`` and ``bytes`` values, as
    :mod:`lms_db.fleet.rawread` returns them): the same bytes, a dozen times faster.

    orjson writes strings exactly as ``json.dumps(ensure_ascii=False)`` does (checked over
    every code point, tests/unit/test_archive_row_line.py); bytes go through the same
    ``encode_value``.  Typed rows keep :func:`row_line`: orjson writes floats, big integers
    and datetimes its own way."""
    return orjson.dumps([table, row], default=encode_value)


def rows_body(lines: Iterable[bytes]) -> bytes:
    """Row lines as an object holds them: each followed by a newline."""
    lines = list(lines)
    return b"\n".join(lines) + b"\n" if lines else b""


def rows_digest(lines: Iterable[bytes]) -> str:
    """sha256 over row lines in order: equal digests mean equal rows, value for value."""
    return hashlib.sha256(rows_body(lines)).hexdigest()


@dataclass
class Chunk:
    """The rows of one archive object: a parent table's rows and their children's.

    :param columns: table -> its column names, in the order of the values.
    :param rows: table -> its rows, each a tuple in ``columns`` order.
    :param meta: header data (table, shard, run, chunk, schema revision...).
    :param types: table -> MySQL field type code per column when ``rows`` hold raw text
        (:mod:`lms_db.fleet.rawread`); ``None``: typed values.
    """

    columns: dict[str, list[str]]
    rows: dict[str, list[Row]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    types: dict[str, list[int]] | None = None
    _lines: list[bytes] | None = field(default=None, repr=False, compare=False)
    _body: bytes | None = field(default=None, repr=False, compare=False)

    def lines(self) -> list[bytes]:
        """Row lines, tables in ``columns`` order (parents first); rendered once (a chunk's
        rows do not change after it is built)."""
        if self._lines is None:
            line = raw_row_line if self.types is not None else row_line
            self._lines = [
                line(table, row) for table in self.columns for row in self.rows.get(table, ())
            ]
        return self._lines

    def body(self) -> bytes:
        """:func:`rows_body` of :meth:`lines` (built once)."""
        if self._body is None:
            self._body = rows_body(self.lines())
        return self._body

    def digest(self) -> str:
        """:func:`rows_digest` of every row: what the guarded delete compares."""
        return hashlib.sha256(self.body()).hexdigest()

    def counts(self) -> dict[str, int]:
        return {t: len(self.rows.get(t, ())) for t in self.columns}

    def records(self, table: str) -> list[dict[str, Any]]:
        """``table``'s rows as column -> value mappings."""
        names = self.columns[table]
        return [dict(zip(names, row, strict=True)) for row in self.rows.get(table, ())]


def encode_chunk(chunk: Chunk) -> bytes:
    """The chunk as one zstd-compressed JSON Lines object."""
    header = {
        "format": FORMAT if chunk.types is None else FORMAT_RAW,
        **({"types": chunk.types} if chunk.types is not None else {}),
        "columns": chunk.columns,
        "counts": chunk.counts(),
        "digest": chunk.digest(),
        **chunk.meta,
    }
    head = json.dumps(header, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(head + b"\n" + chunk.body())


def decode_chunk(blob: bytes, *, where: str = "object") -> Chunk:
    """Read an object written by :func:`encode_chunk`, checking its own digest and counts.

    :param blob: the object's bytes.
    :param where: names the object in errors.
    :raises ArchiveFormatError: not zstd, not this format, or rows differ from the header.
    """
    try:
        text = zstandard.ZstdDecompressor().decompress(blob, max_output_size=1 << 34)
        lines = text.split(b"\n")
        header = json.loads(lines[0])
    except (zstandard.ZstdError, ValueError, IndexError) as exc:
        raise ArchiveFormatError(f"{where}: not a readable lmsdb archive object ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") not in FORMATS:
        raise ArchiveFormatError(f"{where}: not an {FORMAT} object")
    columns: dict[str, list[str]] = header["columns"]
    rows: dict[str, list[Row]] = {t: [] for t in columns}
    try:
        for line in lines[1:]:
            if not line:
                continue
            table, values = json.loads(line)
            rows[table].append(tuple(decode_value(v) for v in values))
    except (ValueError, KeyError, TypeError) as exc:
        raise ArchiveFormatError(f"{where}: a row line is damaged ({exc})") from exc
    skip = ("format", "columns", "counts", "digest", "types")
    meta = {k: v for k, v in header.items() if k not in skip}
    types = header.get("types") if header["format"] == FORMAT_RAW else None
    chunk = Chunk(columns, rows, meta, types)
    if chunk.counts() != header.get("counts") or chunk.digest() != header.get("digest"):
        raise ArchiveFormatError(f"{where}: rows do not match the object's own header")
    if types is None:
        return chunk
    try:
        typed = {t: [typed_row(types[t], r) for r in rs] for t, rs in rows.items()}
    except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
        raise ArchiveFormatError(f"{where}: a value does not read as its type ({exc})") from exc
    # Typed rows; the digest stays the one of the stored text (what the manifest holds).
    return Chunk(columns, typed, meta, None, chunk.lines())


def same_row(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Two rows are equal value for value, as archived (``1 == True`` is not enough)."""
    return encode_row(a) == encode_row(b) and all(
        type(x) is type(y) or x is None or y is None for x, y in zip(a, b, strict=True)
    )
