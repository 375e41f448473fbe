"""Lint of migration revisions (offline SQL, no database): lmsdb's own history is clean for
both MySQL dialects, a bad revision is named, only pending revisions are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms_db.errors import UnknownObjectError
from lms_db.lint import has_errors
from lms_db.lint.revisions import lint_revision_sql
from lms_db.migrate.lint_gate import lint_revisions
from tests.backend.fleet_helpers import add_revision, copy_migrations

#: 0002 partitions users by a column its primary key lacks; 0003 adds a prefix on an INT.
BAD_0002 = 'op.execute("ALTER TABLE users PARTITION BY HASH (created_at) PARTITIONS 4")'
BAD_0003 = 'op.execute("CREATE INDEX ix_probe ON users (id(3))")'


@pytest.mark.parametrize("dialect", ["mysql", "mariadb"])
def test_shipped_history_lints_clean(dialect: str) -> None:
    assert lint_revisions("oltp", "base:head", dialect) == []


def test_other_dialects_are_not_linted() -> None:
    assert lint_revisions("oltp", "base:head", "postgresql") == []
    with pytest.raises(UnknownObjectError):
        lint_revisions("oltp", "base:head", "oracle")


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    root = copy_migrations(tmp_path)
    add_revision(
        root, "0002", "0001", BAD_0002, 'op.execute("ALTER TABLE users REMOVE PARTITIONING")'
    )
    add_revision(root, "0003", "0002", BAD_0003, 'op.drop_index("ix_probe", "users")')
    return root


def test_bad_revisions_are_named(scripts: Path) -> None:
    findings = lint_revisions("oltp", "base:head", "mariadb", scripts)
    errors = {(f.rule, f.message.split(":")[0]) for f in findings if f.severity == "error"}
    assert ("LMS103", "revision 0002") in errors  # HASH of a TIMESTAMP column
    assert ("LMS102", "revision 0002") in errors  # users is referenced by foreign keys
    assert ("LMS101", "revision 0001") in errors  # 0001's primary key lacks created_at
    assert ("LMS205", "revision 0003") in errors  # a prefix on an INT


def test_only_pending_revisions_are_reported(scripts: Path) -> None:
    pending = lint_revisions("oltp", "0002:head", "mariadb", scripts)
    assert pending and all(f.message.startswith("revision 0003") for f in pending)
    from_0001 = {f.rule for f in lint_revisions("oltp", "0001:head", "mariadb", scripts)}
    assert {"LMS101", "LMS102", "LMS103", "LMS205"} <= from_0001  # 0002 breaks 0001's key
    assert lint_revisions("oltp", "head:0001", "mariadb", scripts) == []  # a downgrade


def test_sections_follow_alembic_markers() -> None:
    sql = (
        "-- Running upgrade  -> 0001\n\nCREATE TABLE t (a INT, KEY (a(2)));\n\n"
        "-- Running upgrade 0001 -> 0002\n\nCREATE TABLE u (b TEXT, PRIMARY KEY (b));\n"
    )
    every = lint_revision_sql(sql, "mysql")
    assert [(f.rule, f.message.split(":")[0]) for f in every] == [
        ("LMS205", "revision 0001"),
        ("LMS206", "revision 0002"),
    ]
    assert [f.rule for f in lint_revision_sql(sql, "mysql", revisions={"0002"})] == ["LMS206"]
    assert has_errors(every)
