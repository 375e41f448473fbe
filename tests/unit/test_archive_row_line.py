"""A row's line is the same text whether values go through ``encode_row`` or json's hook."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from lms_db.archive.codec import (
    Chunk,
    decode_chunk,
    encode_chunk,
    encode_row,
    raw_row_line,
    row_line,
)

ROW = (
    1,
    2**64 - 1,
    "emoji \U0001f600 ℃",
    None,
    "",
    True,
    0.1 + 0.2,
    Decimal("12.5000"),
    datetime(2024, 1, 31, 12, 0, 0, 1),
    date(2024, 2, 29),
    time(23, 59, 59, 999999),
    timedelta(days=-1, seconds=5),
    b"\x00\xff",
    '{"a": [1, 2.5]}',
)


def test_row_line_matches_encode_row() -> None:
    expected = json.dumps(
        ["t", encode_row(ROW)], ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    assert row_line("t", ROW) == expected


def _every_code_point() -> str:
    """Every Unicode scalar value (no surrogates: a utf8mb4 column cannot hold one)."""
    return "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def test_a_raw_row_line_is_byte_for_byte_the_row_line() -> None:
    text = _every_code_point()
    pieces = [text[i : i + 997] for i in range(0, len(text), 997)]
    edges = ['"', "\\", '\\\\"', "\u2028\u2029", "\x7f", "\x00\x1f\n\r\t\b\f", "", "0", "-1"]
    rows = [(p, None, b"\x00\xff" * 3, e) for p in pieces for e in edges[:1]]
    rows += [(e, None, b"", "x") for e in edges]
    for row in rows:
        assert raw_row_line("t\u00e9", row) == row_line("t\u00e9", row), row


def test_a_raw_chunk_renders_its_lines_the_same_way_as_a_typed_rendering() -> None:
    rows = {"t": [("1", "\U0001f600", None, b"\x01")]}
    raw = Chunk({"t": ["a", "b", "c", "d"]}, rows, types={"t": [3, 253, 253, 252]})
    assert raw.lines() == [row_line("t", rows["t"][0])]
    assert decode_chunk(encode_chunk(raw)).lines() == raw.lines()
