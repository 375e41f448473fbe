"""lint's verdict on every corpus case equals the manual's (and, for MariaDB, the real
server's: tests/backend/test_lint_oracle.py): an error-severity finding exactly when the
target refuses the case."""

from __future__ import annotations

from collections import Counter

import pytest

from lms_db.lint import has_errors, lint_sql
from tests.unit.lint_corpus import Case, load_cases

CASES = load_cases()


def lint_verdict(case: Case, target: str) -> str:
    findings = lint_sql(case.sql, source=case.id, keyspaces={}, target=target)
    return "refuse" if has_errors(findings) else "accept"


def test_corpus_is_large_and_well_formed() -> None:
    assert len(CASES) >= 150
    ids = Counter(c.id for c in CASES)
    assert [i for i, n in ids.items() if n > 1] == []
    assert all(c.expect in ("accept", "refuse") and c.mysql8 in ("accept", "refuse") for c in CASES)
    assert all(c.rule for c in CASES), "every case quotes the manual's rule"
    verdicts = Counter(c.expect for c in CASES)
    assert verdicts["accept"] >= 40 and verdicts["refuse"] >= 80


@pytest.mark.parametrize("target", ["mysql8", "mariadb"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_lint_agrees_with_the_manual(case: Case, target: str) -> None:
    findings = lint_sql(case.sql, source=case.id, keyspaces={}, target=target)
    errors = [f"{f.rule}: {f.message}" for f in findings if f.severity == "error"]
    expected = case.verdict(target)
    assert ("refuse" if errors else "accept") == expected, (case.rule, errors)
