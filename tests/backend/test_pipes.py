"""Every command that prints a table or a message, through a real pipe (#8).

Piped (no TTY, no COLUMNS) Rich used to wrap at 80 columns: one character per line in
`migrate plan`, `diffe/rence/s` in `schema check`.  Each command here runs as a subprocess
with stdout and stderr on pipes; each cell value or message it must show (read from the
command's own ``--json`` where it has one) has to appear whole on one line, no line may be
a fragment of such a value, and no colour code may appear.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.backend.fleet_helpers import (
    REPO_ROOT,
    add_revision,
    copy_migrations,
    execute,
    write_topology,
)

# Long paths make every message and cell longer than 80 columns.
LONG = "a-directory-name-long-enough-that-every-path-in-it-passes-eighty-columns"


def piped(topology: Path | None, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """``lmsdb [--topology T] ARGS`` in a subprocess on pipes: exit code, stdout, stderr."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE")
    }
    prefix = ["--topology", str(topology)] if topology is not None else []
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "cli.py"), *prefix, *args],
        cwd=cwd or REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # pipes: no TTY
    return done.returncode, done.stdout, done.stderr


def piped_json(topology: Path | None, *args: str) -> Any:
    code, out, err = piped(topology, *args, "--json")
    assert code in (0, 1), err
    return json.loads(out)


def assert_whole(output: str, expected: Iterable[str]) -> None:
    """Each expected value on one line; no line a piece of one; no colour codes."""
    assert "\x1b[" not in output
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    values = [v for v in expected if v]
    assert values, "nothing to look for: the test would pass on any output"
    for value in values:
        assert any(value in line for line in lines), f"{value!r} is not on one line:\n{output}"
    for line in lines:
        pieces = [v for v in values if line != v and len(line) < len(v) and line in v]
        assert not pieces, f"line {line!r} is a fragment of {pieces[0]!r}:\n{output}"


def _sqlite_topology(tmp_path: Path, count: int = 2) -> tuple[Path, list[str]]:
    root = tmp_path / LONG
    root.mkdir()
    urls = [f"sqlite:///{root / f'shard-{i}.db'}" for i in range(count)]
    return write_topology(root, f"sqlite:///{root / 'catalog.db'}", urls), urls


def test_sqlite_commands_through_a_pipe(tmp_path: Path) -> None:
    topology, urls = _sqlite_topology(tmp_path)

    code, out, _ = piped(None, "init", str(tmp_path / LONG / "new.toml"))
    assert code == 0
    assert_whole(out, [f"wrote {tmp_path / LONG / 'new.toml'}"])

    # migrate up with a failing shard: the error is one whole line of its row.
    execute(urls[1], "CREATE TABLE users (id INTEGER PRIMARY KEY)")
    code, out, err = piped(topology, "migrate", "up", "--parallel", "1")
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("shard-1\t"))
    assert "table(s) users already exist" in row and "stays at base" in row
    assert "1 of 2 shard(s) ok" in out
    assert any(
        line.startswith("error: 1 of 2 shard(s) not migrated: shard-1 (failed). First error: ")
        and line.endswith("resumes where it stopped")
        for line in err.splitlines()
    ), err
    execute(urls[1], "DROP TABLE users")
    assert piped(topology, "migrate", "up")[0] == 0

    status = piped_json(topology, "migrate", "status")
    code, out, _ = piped(topology, "migrate", "status")
    assert code == 0
    assert_whole(out, [s["shard"] for s in status["shards"]] + ["head: 0001"])

    history = piped_json(topology, "migrate", "history")
    assert_whole(piped(topology, "migrate", "history")[1], [h["message"] for h in history])

    listing = piped_json(topology, "shard", "list")
    code, out, _ = piped(topology, "shard", "list")
    assert code == 0
    assert_whole(out, [f"[{r['lo']:,}, {r['hi']:,})" for r in listing["ranges"]])
    route = piped_json(topology, "shard", "route", "user", "1500")
    assert_whole(
        piped(topology, "shard", "route", "user", "1500")[1],
        [f"user 1500 -> {route['shard']}  range [1,000, 2,000)"],
    )
    code, out, _ = piped(topology, "shard", "status")
    assert code == 0
    assert_whole(out, ["shard status (map version 1)", "share of rows"])
    assert_whole(
        piped(topology, "shard", "grant-windows")[1],
        ["every counter is inside its windows with headroom; nothing to do"],
    )

    # Drift: a column the models do not have, named in one whole cell line.
    execute(urls[0], "ALTER TABLE users ADD COLUMN nickname_added_by_hand_for_drift TEXT")
    drift = piped_json(topology, "schema", "check")
    code, out, _ = piped(topology, "schema", "check")
    assert code == 1
    diffs = [d for db in drift["databases"] for d in db["diffs"]]
    assert any("nickname_added_by_hand_for_drift" in d for d in diffs)
    assert_whole(
        out,
        diffs
        + [db["database"] for db in drift["databases"]]
        + ["DRIFT: 1 of 2 database(s) differ"],
    )

    code, out, _ = piped(topology, "sample", "load", "--users", "20", "--courses", "2")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("loaded "))
    assert line.endswith(" rows/s") and "(20 users, 2 courses, seed 0)" in line

    refreshed = piped_json(topology, "views", "refresh")
    assert_whole(
        piped(topology, "views", "refresh")[1],
        ["refreshed popular_courses"] + [r["shard"] for r in refreshed],
    )


def test_migrate_new_prints_the_whole_path(tmp_path: Path) -> None:
    topology, _ = _sqlite_topology(tmp_path, count=1)
    scripts = copy_migrations(tmp_path / LONG)
    code, out, err = piped(
        topology,
        "migrate",
        "new",
        "-m",
        "a revision with a long message",
        "--empty",
        "--scripts",
        str(scripts),
    )
    assert code == 0, err
    written = next((scripts / "oltp" / "versions").glob("*a_revision_with_a_long*"))
    assert_whole(out, [f"wrote {written} (empty: the models match the database)"])
    assert out.splitlines() == [f"wrote {written} (empty: the models match the database)"]
    again = piped_json(
        topology, "migrate", "new", "-m", "another one", "--empty", "--scripts", str(scripts)
    )
    assert again["written"] and again["empty"] and Path(again["path"]).is_file()
    assert again["path"].endswith("_another_one.py")
    skipped = piped_json(topology, "migrate", "new", "-m", "not kept", "--scripts", str(scripts))
    assert skipped == {"path": None, "written": False, "empty": True}
    assert not list((scripts / "oltp" / "versions").glob("*not_kept*"))


@pytest.mark.parametrize("args", [[], ["tests/fixtures/seed/database-design.md"]])
def test_lint_cells_stay_whole(args: list[str]) -> None:
    findings = piped_json(None, "schema", "lint", *args)
    code, out, _ = piped(None, "schema", "lint", *args)
    assert code in (0, 1)
    assert_whole(
        out,
        [f["message"] for f in findings]
        + [f["table"] for f in findings]
        + [f["location"] for f in findings],
    )
    rules = piped_json(None, "schema", "lint", "--rules")
    assert_whole(piped(None, "schema", "lint", "--rules")[1], [r["description"] for r in rules])


def test_mariadb_plan_warnings_stay_whole(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    """`migrate plan` on MariaDB: the "may block writes" cell, once 304 one-char lines."""
    urls = [make_mariadb_database() for _ in range(2)]
    topology = write_topology(tmp_path, urls[0], urls[1:])
    scripts = copy_migrations(tmp_path)
    assert piped(topology, "migrate", "up", "--scripts", str(scripts))[0] == 0
    add_revision(
        scripts,
        "0002",
        "0001",
        'op.add_column("users", sa.Column("nickname", sa.String(80)))\n'
        'op.create_index("ix_users_nickname_created", "users", '
        '["nickname", "created_at"])',
        'op.drop_index("ix_users_nickname_created", "users")\nop.drop_column("users", "nickname")',
    )
    plans = piped_json(topology, "migrate", "plan", "--scripts", str(scripts))
    warnings = [w for p in plans for w in p["warnings"]]
    assert len(warnings) >= 2 and all(len(w) > 80 for w in warnings)
    code, out, _ = piped(topology, "migrate", "plan", "--scripts", str(scripts))
    assert code == 0
    assert_whole(out, warnings)
    assert len(out.splitlines()) == 1 + len(plans)  # a header and one record per shard
