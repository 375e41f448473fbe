"""scripts/restructure-imports.sed turns every old module path of docs/restructure-map.md into
its new one, leaves converted text alone, and every new path exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SED = ROOT / "scripts" / "restructure-imports.sed"
ROW = re.compile(r"^\| `(lms_db[\w.]*)` \| `(lms_db[\w.]*)` \| `([\w/.]+)` → `([\w/.]+)` \|$")


def _rows() -> list[tuple[str, str, str, str]]:
    text = (ROOT / "docs" / "restructure-map.md").read_text()
    return [m.groups() for line in text.splitlines() if (m := ROW.match(line))]  # type: ignore[misc]


def _sed(text: str) -> str:
    return subprocess.run(
        ["sed", "-E", "-f", str(SED)], input=text, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(shutil.which("sed") is None, reason="needs sed")
def test_sed_rewrites_every_mapped_module_and_is_idempotent() -> None:
    # lms_db.fleet is a package on both sides: only its old re-exports move (see below)
    rows = [r for r in _rows() if r[0] != "lms_db.fleet"]
    assert len(rows) >= 29
    old = "".join(f"from {a} import x  # see {c}\nimport {a}.y\n" for a, _, c, _ in rows)
    new = "".join(f"from {b} import x  # see {d}\nimport {b}.y\n" for _, b, _, d in rows)
    assert _sed(old) == new
    assert _sed(new) == new
    kept = "from lms_db.fleet.fanout import fan_out\nfrom lms_db.fleet.locks import file_lock\n"
    assert _sed(kept) == kept


@pytest.mark.skipif(shutil.which("sed") is None, reason="needs sed")
def test_sed_reads_the_old_meaning_of_names_that_are_packages_again() -> None:
    old = (
        "from lms_db.fleet import migrate_database\n"
        "from lms_db.fleet import steps  # a module of the new fleet package\n"
        "from lms_db.fleet.fanout import fan_out\n"
        "import lms_db.ids\n"
        "x = lms_db.topology.DatabaseRef  # see :mod:`lms_db.fleet.run`\n"
    )
    assert _sed(old) == (
        "from lms_db.migrate import migrate_database\n"
        "from lms_db.fleet import steps  # a module of the new fleet package\n"
        "from lms_db.fleet.fanout import fan_out\n"
        "import lms_db.ids.windows\n"
        "x = lms_db.topology.spec.DatabaseRef  # see :mod:`lms_db.migrate.run`\n"
    )


@pytest.mark.skipif(shutil.which("sed") is None, reason="needs sed")
def test_sed_changes_nothing_in_the_new_layout() -> None:
    """Safe to run over a whole merged tree: every file here is already in the new layout."""
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # history, the map of old names, and this file's own old-layout samples
    skip = {"CHANGELOG.md", "docs/restructure-map.md", "tests/unit/test_restructure_map.py"}
    changed = [
        name
        for name in tracked
        if name not in skip
        and (ROOT / name).is_file()
        and _sed((ROOT / name).read_text()) != (ROOT / name).read_text()
    ]
    assert changed == []


def test_every_new_path_exists_and_no_old_one_does() -> None:
    for _, _, old_file, new_file in _rows():
        assert (ROOT / new_file).is_file(), new_file
        # lms_db/fleet/__init__.py is reused by the new fleet package (fanout, locks)
        assert old_file.endswith("__init__.py") or not (ROOT / old_file).exists(), old_file
