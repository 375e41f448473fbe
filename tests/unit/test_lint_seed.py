"""Schema lint on the real things: the models lint without errors, the committed MySQL DDL
lints clean, and every DDL problem of the seed document is named."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from lms_db.errors import UnknownObjectError
from lms_db.lint import Finding, has_errors, lint_models, lint_paths
from lms_db.lint.partition_rules import DECLARED_PREFIX
from lms_db.models.base import fulltext_index
from lms_db.models.partitions import PartitionSpec

REPO = Path(__file__).parents[2]
#: A copy of shared/seed/database-design.md, so the seed tests run in any clone.
SEED = REPO / "tests/fixtures/seed/database-design.md"


# --- the models ---------------------------------------------------------------------------


def test_models_have_no_error() -> None:
    findings = lint_models()
    assert not has_errors(findings), [f for f in findings if f.severity == "error"]


def test_declared_partition_specs_are_warnings_with_reason() -> None:
    users = [f for f in lint_models() if f.table == "users" and f.rule == "LMS103"]
    assert len(users) == 1
    assert users[0].severity == "warning"
    assert users[0].message.startswith(DECLARED_PREFIX)
    assert "reason:" in users[0].message
    assert users[0].location == "model"


def test_applying_a_declared_spec_makes_errors() -> None:
    findings = lint_models(apply_partitions=["users"])
    errors = {f.rule for f in findings if f.severity == "error" and f.table == "users"}
    assert {"LMS101", "LMS102", "LMS103", "LMS104"} <= errors


def test_applying_an_unknown_spec_is_bad_input() -> None:
    with pytest.raises(UnknownObjectError, match="no declared partition spec"):
        lint_models(apply_partitions=["coupons"])


def _metadata(applied: bool) -> sa.MetaData:
    meta = sa.MetaData()
    spec = PartitionSpec(
        kind="HASH", expression="id", columns=("id",), applied=applied, reason="demo"
    )
    sa.Table(
        "parent",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.Text),
        *fulltext_index("ft_body", "parent", "body"),
        info={"keyspace": "user", "partition": spec},
    )
    sa.Table(
        "child",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("parent_id", sa.ForeignKey("parent.id")),
        info={"keyspace": "course"},
    )
    return meta


def test_models_front_end_on_custom_metadata() -> None:
    counts = Counter((f.rule, f.severity) for f in lint_models(_metadata(applied=True)))
    # one FULLTEXT finding: the PostgreSQL GIN twin is not a MySQL index
    assert counts[("LMS104", "error")] == 1
    assert counts[("LMS102", "error")] == 1
    assert counts[("LMS301", "error")] == 1
    assert counts[("LMS202", "warning")] == 1
    declared = Counter((f.rule, f.severity) for f in lint_models(_metadata(applied=False)))
    assert declared[("LMS104", "warning")] == 1
    assert declared[("LMS104", "error")] == 0


# --- the committed DDL and the seed ------------------------------------------------------


@pytest.mark.parametrize("dialect", ["mysql", "mariadb"])
def test_committed_ddl_lints_clean(dialect: str) -> None:
    path = REPO / "sql" / dialect / "schema.sql"
    if not path.exists():
        pytest.skip(f"{path} not generated yet")
    assert lint_paths([path]) == []


@pytest.fixture(scope="module")
def seed_findings() -> list[Finding]:
    assert SEED.is_file(), f"{SEED} missing: copy shared/seed/database-design.md there"
    return lint_paths([SEED])


def _has(findings: list[Finding], rule: str, table: str, text: str = "") -> bool:
    return any(f.rule == rule and f.table == table and text in f.message for f in findings)


@pytest.mark.parametrize("table", ["users", "enrollments", "payments", "courses"])
def test_seed_partition_key_not_in_unique_key(seed_findings: list[Finding], table: str) -> None:
    assert _has(seed_findings, "LMS101", table)


@pytest.mark.parametrize(
    ("rule", "table", "text"),
    [
        ("LMS102", "users", "referenced by foreign keys"),
        ("LMS102", "enrollments", "fk_enrollments_user_id"),
        ("LMS103", "users", "YEAR(created_at)"),
        ("LMS104", "users", "idx_fulltext_name"),
        ("LMS104", "courses", "idx_fulltext_search"),
        ("LMS106", "courses", "ENUM column status is not allowed in LIST COLUMNS"),
        ("LMS201", "users", "idx_email"),
        ("LMS201", "courses", "idx_slug"),
        ("LMS201", "course_categories", "idx_slug"),
        ("LMS201", "coupons", "idx_code"),
        ("LMS201", "enrollments", "idx_user_id"),
        ("LMS201", "certificates", "idx_certificate_number"),
        ("LMS202", "certificates", "enrollment_id"),
        ("LMS301", "enrollments", "enrollments(course_id) -> courses(id)"),
        ("LMS301", "courses", "courses(instructor_id) -> users(id)"),
        ("LMS401", "users", "CREATE POLICY"),
        ("LMS401", "users", "ENCRYPTED"),
        ("LMS401", "popular_courses", "CREATE MATERIALIZED VIEW"),
        ("LMS401", "popular_courses", "REFRESH MATERIALIZED VIEW"),
        ("LMS401", "user_events", "TIMESTAMPTZ"),
        ("LMS401", "user_events", "create_hypertable"),
        ("LMS401", "", "[mysqld]"),
        ("LMS402", "users", "u.name"),
    ],
)
def test_seed_problems_are_named(
    seed_findings: list[Finding], rule: str, table: str, text: str
) -> None:
    assert _has(seed_findings, rule, table, text)


def test_seed_copy_matches_shared() -> None:
    shared = REPO.parent / "shared" / "seed" / "database-design.md"
    if not shared.exists():
        pytest.skip(f"{shared} not present: nothing to compare the copy with")
    assert SEED.read_bytes() == shared.read_bytes()


def test_seed_counts(seed_findings: list[Finding]) -> None:
    counts = Counter(f.severity for f in seed_findings)
    assert (counts["error"], counts["warning"]) == (41, 15)


def test_seed_has_no_false_alarms(seed_findings: list[Finding]) -> None:
    # ALTER INSTANCE is MySQL 8; the EXPLAIN's c.* columns and the view's columns exist
    assert not any("ALTER INSTANCE" in f.message for f in seed_findings)
    assert [f.message for f in seed_findings if f.rule == "LMS402"] == [
        "u.name: users (alias u) has no column name"
    ]
    assert all(f.location.startswith(f"{SEED}:") for f in seed_findings)
