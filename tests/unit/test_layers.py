"""Imports follow the layers: the library never reaches the terminal layer or upward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY_FILES = sorted((ROOT / "lms_db").rglob("*.py"))
TERMINAL = ("typer", "rich", "click", "cli", "lmsdb_cli")
#: Modules that must not import the fleet/high layers.
LOW_LAYERS = ("lms_db/models", "lms_db/dialects", "lms_db/models/partitions.py", "lms_db/errors.py")
HIGH = ("lms_db.topology.spec", "lms_db.catalog", "lms_db.migrate", "lms_db.router", "lms_db.moves",
        "lms_db.archive", "lms_db.lint", "lms_db.schema.views", "lms_db.schema.compare")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_library_has_no_terminal_imports(path: Path) -> None:
    bad = {n for n in _imports(path) if n.split(".")[0] in TERMINAL}
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_low_layers_do_not_import_high_ones(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    if not rel.startswith(LOW_LAYERS):
        return
    bad = {n for n in _imports(path) if n.startswith(HIGH)}
    assert not bad, f"{rel} imports {bad}"


def test_boto3_only_in_the_s3_module() -> None:
    for path in LIBRARY_FILES:
        if path.name != "s3.py":
            assert "boto3" not in {n.split(".")[0] for n in _imports(path)}, path
