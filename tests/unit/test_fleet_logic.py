"""Fleet logic without a server: fan-out policy, blocking-DDL flags, revision paths."""

from __future__ import annotations

import threading
import time

import pytest

from lms_db.errors import UnknownObjectError
from lms_db.fleet.fanout import FanoutPolicy, fan_out
from lms_db.migrate.blocking import blocking_statements, split_statements
from lms_db.migrate.scripts import (
    downgrade_steps,
    resolve_revision,
    script_directory,
    upgrade_steps,
)


def _run(items: list[str], policy: FanoutPolicy, bad: set[str]) -> list[str]:
    def work(item: str) -> str:
        time.sleep(0.01)
        return f"{item}:{'failed' if item in bad else 'ok'}"

    return fan_out(
        items,
        work,
        policy=policy,
        failed=lambda r: r.endswith("failed"),
        skipped=lambda item: f"{item}:skipped",
    )


@pytest.mark.parametrize(
    ("policy", "bad", "expected"),
    [
        (FanoutPolicy(parallel=1), {"b"}, ["a:ok", "b:failed", "c:ok", "d:ok"]),
        (
            FanoutPolicy(parallel=1, fail_fast=True),
            {"b"},
            ["a:ok", "b:failed", "c:skipped", "d:skipped"],
        ),
        (FanoutPolicy(parallel=3), {"a"}, ["a:failed", "b:skipped", "c:skipped", "d:skipped"]),
        (FanoutPolicy(parallel=3, canary=False), {"a"}, ["a:failed", "b:ok", "c:ok", "d:ok"]),
        (FanoutPolicy(parallel=3), set(), ["a:ok", "b:ok", "c:ok", "d:ok"]),
    ],
    ids=["continue", "fail-fast", "canary-fails", "no-canary", "all-ok"],
)
def test_fan_out_policy(policy: FanoutPolicy, bad: set[str], expected: list[str]) -> None:
    assert _run(["a", "b", "c", "d"], policy, bad) == expected


def test_fan_out_bounds_parallelism_and_runs_the_canary_alone() -> None:
    running, peak, lock = [0], [0], threading.Lock()
    log: list[tuple[str, int]] = []

    def work(item: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            log.append(("start", item))
        time.sleep(0.02)
        with lock:
            running[0] -= 1
            log.append(("end", item))
        return item

    results = fan_out(
        list(range(10)),
        work,
        policy=FanoutPolicy(parallel=3),
        failed=lambda _r: False,
        skipped=lambda i: -1,
    )
    assert results == list(range(10))
    assert peak[0] == 3
    assert log[:2] == [("start", 0), ("end", 0)]


def test_blocking_ddl_is_flagged_per_dialect() -> None:
    sql = """
CREATE TABLE fresh (id INT);
CREATE INDEX ix_fresh ON fresh (id);
ALTER TABLE users ADD COLUMN nickname VARCHAR(50);
ALTER TABLE users ADD COLUMN badge INT, ALGORITHM=INSTANT;
ALTER TABLE courses ADD INDEX ix_c (title), ALGORITHM=INPLACE, LOCK=SHARED;
CREATE INDEX ix_users_nick ON users (nickname);
"""
    mysql = blocking_statements(split_statements(sql), "mariadb")
    assert [w.split(":")[0] for w in mysql] == [
        "may copy users and block writes",
        "blocks writes on courses (ALGORITHM=INPLACE, LOCK=SHARED)",
        "may copy users and block writes",
    ]
    pg = blocking_statements(
        split_statements(
            "CREATE INDEX ix ON users (a);\nCREATE INDEX CONCURRENTLY ix2 ON users (b);\n"
            "ALTER TABLE users ALTER COLUMN a TYPE BIGINT;\n"
            "ALTER TABLE users ENABLE ROW LEVEL SECURITY;\n"
        ),
        "postgresql",
    )
    assert len(pg) == 2 and "CONCURRENTLY" in pg[0] and "rewrites users" in pg[1]
    assert blocking_statements(["ALTER TABLE users ADD COLUMN x INT"], "sqlite") == []


def test_revision_paths() -> None:
    script = script_directory("oltp")
    head = resolve_revision(script, "head")
    assert head == "0001" and resolve_revision(script, "base") is None
    assert resolve_revision(script, "000") == "0001"  # a unique prefix
    assert upgrade_steps(script, None, head) == ["0001"]
    assert upgrade_steps(script, head, head) == []
    assert downgrade_steps(script, head, None) == [("0001", None)]
    with pytest.raises(UnknownObjectError, match="unknown revision 'zzz'"):
        resolve_revision(script, "zzz")
    with pytest.raises(UnknownObjectError, match="does not know"):
        upgrade_steps(script, "ffff", head)
