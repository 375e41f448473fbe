"""tests/fixtures/seed/database-design.md is an exact copy of the seed document."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COPY = ROOT / "tests" / "fixtures" / "seed" / "database-design.md"
ORIGINAL = ROOT.parent / "shared" / "seed" / "database-design.md"


def test_the_seed_copy_is_there() -> None:
    assert COPY.is_file() and "CREATE TABLE" in COPY.read_text()


@pytest.mark.skipif(not ORIGINAL.is_file(), reason="no shared/ beside this clone to compare")
def test_the_seed_copy_matches_the_shared_original() -> None:
    assert COPY.read_bytes() == ORIGINAL.read_bytes(), "refresh the copy from shared/seed/"
