"""Imports follow the layers of docs/architecture.md.

Every package and top-level module of ``lms_db`` has a rank.  A module may import modules of
its own package, or of a package of a strictly lower rank; anything else (a higher layer, a
sibling of the same rank, the ``lms_db`` facade) fails.  Every import counts: at module level,
inside functions, under ``TYPE_CHECKING``, relative ones (resolved), and module paths passed as
strings (``importlib.import_module("lms_db.x")``, forkserver preloads).  A package missing from
:data:`RANKS` fails too, so a new package must be placed on the map before it can land.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "lms_db"

#: The layer of each package / top-level module of lms_db, lowest first (docs/architecture.md).
RANKS: dict[str, int] = {
    "lms_db.errors": 0,
    "lms_db.config": 1,
    # SIGINT/SIGTERM as a stop request, and the named pause points built on it: any layer
    # with a long-running operation (migrate, sample, moves, archive) asks them.
    "lms_db.interrupts": 1,
    "lms_db.hooks": 2,
    # What is true of each dialect (family, quoting, object names): below everything that asks.
    "lms_db.dialects.facts": 2,
    "lms_db.topology": 3,
    "lms_db.models": 4,
    "lms_db.dialects": 5,
    "lms_db.schema": 6,
    "lms_db.lint": 6,
    "lms_db.catalog": 7,
    "lms_db.router": 8,
    "lms_db.ids": 9,
    "lms_db.fleet": 10,
    "lms_db.migrate": 11,
    "lms_db.shards": 12,
    "lms_db.moves": 13,
    # Above moves: the archive's guarded delete uses the moves' chunk checksum.
    "lms_db.archive": 14,
    "lms_db.security": 13,
    "lms_db.sample": 14,
    "lms_db.sandbox": 14,
    "lms_db.demo": 15,
    # The facade (lms_db/__init__.py) re-exports the public API; nothing inside imports it.
    "lms_db": 16,
}
#: Terminal-layer packages: they belong to cli.py and lmsdb_cli/ only.
TERMINAL = frozenset({"typer", "rich", "click", "cli", "lmsdb_cli"})
#: The AWS SDK is confined to one module, so the rest of the library imports without it.
AWS = frozenset({"boto3", "botocore", "s3transfer"})
AWS_HOME = "lms_db/archive/s3.py"


@dataclass(frozen=True)
class Import:
    """One module named by one file: ``target`` is absolute (relative imports resolved)."""

    path: str
    line: int
    target: str


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every module ``path`` imports, wherever the import statement sits, in line order."""
    return sorted(_walk_imports(path, root), key=lambda i: (i.line, i.target))


def _walk_imports(path: Path, root: Path) -> Iterator[Import]:
    rel = str(path.relative_to(root))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield Import(rel, node.lineno, base)
            for alias in node.names:  # `from lms_db import ddl` names a module, not a value
                candidate = f"{base}.{alias.name}"
                if _is_module(candidate, root):
                    yield Import(rel, node.lineno, candidate)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("lms_db.")
            and all(p.isidentifier() for p in node.value.split("."))
        ):
            yield Import(rel, node.lineno, node.value)


def _is_module(dotted: str, root: Path) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def unit_of(dotted: str, ranks: dict[str, int] | None = None) -> str:
    """The ranked unit a module belongs to: the longest prefix of it in ``ranks`` (a module
    ranked on its own, like ``lms_db.dialects.facts``), else ``lms_db.<first part>``."""
    parts = dotted.split(".")
    for n in range(len(parts), 2, -1):
        if ".".join(parts[:n]) in (RANKS if ranks is None else ranks):
            return ".".join(parts[:n])
    return ".".join(parts[:2])


def layer_violations(files: Iterable[Path], root: Path, ranks: dict[str, int]) -> list[str]:
    problems: list[str] = []
    for path in files:
        source = unit_of(module_name(path, root), ranks)
        if source not in ranks:
            problems.append(f"{path.relative_to(root)}: {source} has no rank in RANKS")
            continue
        for imp in imports_of(path, root):
            if imp.target.split(".")[0] != "lms_db":
                continue
            target = unit_of(imp.target, ranks)
            if target == source:
                continue
            if target not in ranks:
                problems.append(f"{imp.path}:{imp.line}: imports {imp.target}, which has no rank")
            elif ranks[target] >= ranks[source]:
                problems.append(
                    f"{imp.path}:{imp.line}: {source} (rank {ranks[source]}) imports "
                    f"{imp.target} (rank {ranks[target]})"
                )
    return problems


def banned_imports(files: Iterable[Path], root: Path) -> list[str]:
    """Terminal imports anywhere under the library; AWS SDK imports outside AWS_HOME."""
    problems: list[str] = []
    for path in files:
        rel = str(path.relative_to(root))
        for imp in imports_of(path, root):
            top = imp.target.split(".")[0]
            if top in TERMINAL:
                problems.append(f"{imp.path}:{imp.line}: terminal import {imp.target}")
            if top in AWS and rel != AWS_HOME:
                problems.append(f"{imp.path}:{imp.line}: {imp.target} outside {AWS_HOME}")
    return problems


def library_files(root: Path = ROOT) -> list[Path]:
    return sorted((root / "lms_db").rglob("*.py"))


def test_every_library_module_respects_the_layers() -> None:
    assert layer_violations(library_files(), ROOT, RANKS) == []


def test_library_has_no_terminal_imports_and_aws_stays_in_s3() -> None:
    assert banned_imports(library_files(), ROOT) == []


def test_the_scan_sees_the_real_import_graph() -> None:
    """Guards the checks above against passing because they read nothing."""
    files = library_files()
    assert len(files) == sum(1 for _ in LIBRARY.rglob("*.py")) > 60
    edges = {
        (module_name(Path(ROOT / i.path), ROOT), i.target)
        for f in files
        for i in imports_of(f, ROOT)
    }
    assert len(edges) > 300
    assert ("lms_db.migrate.run", "lms_db.fleet.fanout") in edges
    assert ("lms_db.schema.ddl", "lms_db.dialects.mysql") in edges  # `from x import module`
    assert ("lms_db.migrate.run", "lms_db.migrate.run") in edges  # the forkserver preload string
    assert {unit_of(module_name(f, ROOT)) for f in files} <= set(RANKS)
    assert unit_of("lms_db.dialects.facts") == "lms_db.dialects.facts"
    assert unit_of("lms_db.dialects.mysql") == "lms_db.dialects"


# --- the checkers themselves, on planted libraries ---------------------------------------


def _plant(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for directory in {p.parent for p in tmp_path.rglob("*.py")}:
        (directory / "__init__.py").touch()
    return library_files(tmp_path)


def test_checker_catches_an_upward_import_inside_a_function(tmp_path: Path) -> None:
    files = _plant(
        tmp_path,
        {
            "lms_db/models/users.py": "def f():\n    from lms_db.migrate.run import x\n",
            "lms_db/migrate/run.py": "from lms_db.models.users import User\n",
        },
    )
    assert layer_violations(files, tmp_path, RANKS) == [
        "lms_db/models/users.py:2: lms_db.models (rank 4) imports lms_db.migrate.run (rank 11)"
    ]


def test_checker_catches_type_checking_relative_and_string_imports(tmp_path: Path) -> None:
    files = _plant(
        tmp_path,
        {
            "lms_db/catalog/journal.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from ..router import Router\n"
                "from . import schema\n"
            ),
            "lms_db/catalog/schema.py": "",
            "lms_db/router/__init__.py": "",
            "lms_db/dialects/mysql.py": (
                "import importlib\nimportlib.import_module('lms_db.schema.ddl')\n"
            ),
            "lms_db/schema/ddl.py": "",
        },
    )
    problems = layer_violations(files, tmp_path, RANKS)
    assert problems == [
        "lms_db/catalog/journal.py:3: lms_db.catalog (rank 7) imports lms_db.router (rank 8)",
        "lms_db/dialects/mysql.py:2: lms_db.dialects (rank 5) imports lms_db.schema.ddl (rank 6)",
    ]


def test_checker_rejects_siblings_the_facade_and_unranked_packages(tmp_path: Path) -> None:
    files = _plant(
        tmp_path,
        {
            "lms_db/lint/rules.py": (
                "from lms_db.schema.ddl import render\nfrom lms_db import Router\n"
            ),
            "lms_db/schema/ddl.py": "",
            "lms_db/newthing/core.py": "from lms_db.errors import InputError\n",
            "lms_db/errors.py": "",
        },
    )
    assert layer_violations(files, tmp_path, RANKS) == [
        "lms_db/lint/rules.py:1: lms_db.lint (rank 6) imports lms_db.schema.ddl (rank 6)",
        "lms_db/lint/rules.py:2: lms_db.lint (rank 6) imports lms_db (rank 16)",
        "lms_db/newthing/__init__.py: lms_db.newthing has no rank in RANKS",
        "lms_db/newthing/core.py: lms_db.newthing has no rank in RANKS",
    ]


@pytest.mark.parametrize(
    "statement",
    ["import boto3", "from botocore.config import Config", "def f():\n    import boto3.session"],
)
def test_checker_confines_the_aws_sdk_to_the_s3_module(tmp_path: Path, statement: str) -> None:
    files = _plant(
        tmp_path,
        {
            "lms_db/archive/s3.py": "import boto3\nimport botocore\n",
            "lms_db/archive/writer.py": statement + "\n",
        },
    )
    problems = banned_imports(files, tmp_path)
    assert len(problems) == 1 and problems[0].startswith("lms_db/archive/writer.py:")


def test_checker_catches_terminal_imports(tmp_path: Path) -> None:
    files = _plant(
        tmp_path,
        {
            "lms_db/schema/reference.py": "def show():\n    from rich.console import Console\n",
            "lms_db/demo.py": "import lmsdb_cli.output\nfrom cli import main\n",
        },
    )
    assert banned_imports(files, tmp_path) == [
        "lms_db/demo.py:1: terminal import lmsdb_cli.output",
        "lms_db/demo.py:2: terminal import cli",
        "lms_db/schema/reference.py:2: terminal import rich.console",
    ]


def test_a_module_ranked_alone_sits_below_its_package(tmp_path: Path) -> None:
    files = _plant(
        tmp_path,
        {
            "lms_db/dialects/facts.py": "from lms_db.dialects.mysql import x\n",
            "lms_db/dialects/mysql.py": "from lms_db.dialects.facts import quote\n",
            "lms_db/models/types.py": "from lms_db.dialects.facts import quote\n",
        },
    )
    assert layer_violations(files, tmp_path, RANKS) == [
        "lms_db/dialects/facts.py:1: lms_db.dialects.facts (rank 2) imports "
        "lms_db.dialects.mysql (rank 5)"
    ]
