"""A row's line is the same text whether values go through ``encode_row`` or json's hook."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from lms_db.archive.codec import encode_row, row_line

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
