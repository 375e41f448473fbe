"""`lmsdb --help` and the light commands do not load the heavy libraries (#8).

Asserts module names seen by ``-X importtime``, never times: the timings are in
``benchmarks/startup.py`` and docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("alembic", "sqlglot", "boto3", "botocore", "pymysql", "psycopg")


def _imported(*argv: str) -> set[str]:
    """Top-level packages imported by a fresh interpreter running ``argv``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": ""},
        check=False,
    )
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert names, done.stderr  # importtime output was read: the test can see imports
    return names


def test_importing_the_cli_app_loads_no_heavy_library() -> None:
    imported = _imported("-c", "import lmsdb_cli.app")
    assert "lmsdb_cli" in imported
    assert sorted(imported & set(HEAVY)) == []
    assert "sqlalchemy" not in imported


@pytest.mark.parametrize(
    "argv", [["--help"], ["migrate", "--help"], ["schema", "--help"], ["shard", "route", "--help"]]
)
def test_help_loads_no_heavy_library(argv: list[str]) -> None:
    imported = _imported(
        "-c", f"import sys; from lmsdb_cli.app import main; sys.argv = ['lmsdb', *{argv!r}]; main()"
    )
    assert sorted(imported & {*HEAVY, "sqlalchemy"}) == []


def test_the_cli_help_defaults_are_the_library_defaults() -> None:
    from lms_db.demo import DEFAULT_COURSES, DEFAULT_USERS
    from lms_db.dialects.facts import DIALECTS
    from lms_db.fleet.locks import DEFAULT_LOCK_TIMEOUT
    from lms_db.lint.targets import TARGETS
    from lms_db.migrate.replication import DEFAULT_REPLICA_TIMEOUT
    from lmsdb_cli import defaults

    assert defaults.DEFAULT_LOCK_TIMEOUT == DEFAULT_LOCK_TIMEOUT
    assert defaults.DEFAULT_REPLICA_TIMEOUT == DEFAULT_REPLICA_TIMEOUT
    assert defaults.DIALECTS == DIALECTS
    assert (defaults.DEMO_USERS, defaults.DEMO_COURSES) == (DEFAULT_USERS, DEFAULT_COURSES)
    assert tuple(TARGETS) == defaults.LINT_TARGETS


def test_the_lazy_public_api_still_resolves_in_a_fresh_process() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import lms_db, lms_db.router; "
            "assert lms_db.Router is lms_db.router.Router; "
            "from lms_db import metadata; assert 'users' in metadata.tables; "
            "import lms_db as m; print(sorted(set(m.__all__) - set(dir(m))))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"
