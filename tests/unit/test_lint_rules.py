"""Schema lint rules: each fires on a small snippet and stays quiet on its fixed twin;
the SQL front end keeps line numbers and refuses bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms_db.errors import InputError
from lms_db.lint import RULES, Finding, has_errors, lint_paths, lint_sql
from lms_db.lint.sources import Chunk, mask, split_statements

FIXTURES = Path(__file__).parents[1] / "fixtures" / "lint"

YEARLY = "(PARTITION p0 VALUES LESS THAN (2025), PARTITION pf VALUES LESS THAN MAXVALUE)"
PARENT = "CREATE TABLE p (id INT PRIMARY KEY);"
KEYSPACES = {"a": "user", "b": "course", "g": "global", "a2": "user"}


def fired(sql: str, keyspaces: dict[str, str] | None = None) -> set[str]:
    return {f.rule for f in lint_sql(sql, keyspaces=keyspaces or {})}


# (rule, SQL where it fires, SQL where it does not)
CASES = [
    pytest.param(
        "LMS101",
        "CREATE TABLE t (id INT PRIMARY KEY, created_at DATETIME NOT NULL);"
        f"ALTER TABLE t PARTITION BY RANGE (YEAR(created_at)) {YEARLY};",
        "CREATE TABLE t (id INT, created_at DATETIME NOT NULL, PRIMARY KEY (id, created_at))"
        f" PARTITION BY RANGE (YEAR(created_at)) {YEARLY};",
        id="LMS101-pk-lacks-column",
    ),
    pytest.param(
        "LMS101",
        "CREATE TABLE t (id INT, s VARCHAR(9), email VARCHAR(50) UNIQUE, PRIMARY KEY (id, s));"
        "ALTER TABLE t PARTITION BY LIST COLUMNS(s) (PARTITION pa VALUES IN ('a'));",
        "CREATE TABLE t (id INT, s VARCHAR(9), email VARCHAR(50), PRIMARY KEY (id, s),"
        " UNIQUE KEY u (email, s));"
        "ALTER TABLE t PARTITION BY LIST COLUMNS(s) (PARTITION pa VALUES IN ('a'));",
        id="LMS101-unique-lacks-column",
    ),
    pytest.param(
        "LMS102",
        f"{PARENT} CREATE TABLE c (id INT PRIMARY KEY, p_id INT, INDEX ix (p_id),"
        " FOREIGN KEY (p_id) REFERENCES p(id)) PARTITION BY HASH(id) PARTITIONS 4;",
        f"{PARENT} CREATE TABLE c (id INT PRIMARY KEY, p_id INT, INDEX ix (p_id),"
        " FOREIGN KEY (p_id) REFERENCES p(id));",
        id="LMS102-has-fk",
    ),
    pytest.param(
        "LMS102",
        "CREATE TABLE p (id INT PRIMARY KEY) PARTITION BY HASH(id) PARTITIONS 4;"
        "CREATE TABLE c (id INT PRIMARY KEY, p_id INT, INDEX ix (p_id),"
        " CONSTRAINT fk_c_p FOREIGN KEY (p_id) REFERENCES p(id));",
        "CREATE TABLE p (id INT PRIMARY KEY) PARTITION BY HASH(id) PARTITIONS 4;"
        "CREATE TABLE c (id INT PRIMARY KEY, p_id INT, INDEX ix (p_id));",
        id="LMS102-is-referenced",
    ),
    pytest.param(
        "LMS103",
        "CREATE TABLE t (id INT, created_at TIMESTAMP NOT NULL, PRIMARY KEY (id, created_at));"
        f"ALTER TABLE t PARTITION BY RANGE (YEAR(created_at)) {YEARLY};",
        "CREATE TABLE t (id INT, created_at TIMESTAMP NOT NULL, PRIMARY KEY (id, created_at));"
        "ALTER TABLE t PARTITION BY RANGE (UNIX_TIMESTAMP(created_at))"
        " (PARTITION p0 VALUES LESS THAN (1735689600), PARTITION pf VALUES LESS THAN MAXVALUE);",
        id="LMS103-year-on-timestamp",
    ),
    pytest.param(
        "LMS103",
        "CREATE TABLE t (id INT, ts TIMESTAMP NOT NULL, PRIMARY KEY (id, ts))"
        " PARTITION BY RANGE COLUMNS(ts) (PARTITION pf VALUES LESS THAN (MAXVALUE));",
        "CREATE TABLE t (id INT, ts DATETIME NOT NULL, PRIMARY KEY (id, ts))"
        " PARTITION BY RANGE COLUMNS(ts) (PARTITION pf VALUES LESS THAN (MAXVALUE));",
        id="LMS103-columns-on-timestamp",
    ),
    pytest.param(
        "LMS104",
        "CREATE TABLE t (id INT PRIMARY KEY, body TEXT, FULLTEXT INDEX ft (body))"
        " PARTITION BY HASH(id) PARTITIONS 2;",
        "CREATE TABLE t (id INT PRIMARY KEY, body TEXT, FULLTEXT INDEX ft (body));",
        id="LMS104-inline",
    ),
    pytest.param(
        "LMS104",
        "CREATE TABLE t (id INT PRIMARY KEY, body TEXT) PARTITION BY KEY() PARTITIONS 2;"
        "CREATE FULLTEXT INDEX ft ON t (body);",
        "CREATE TABLE t (id INT PRIMARY KEY, body TEXT) PARTITION BY KEY() PARTITIONS 2;"
        "CREATE INDEX ix ON t (body(20));",
        id="LMS104-create-fulltext-index",
    ),
    pytest.param(
        "LMS201",
        "CREATE TABLE t (id INT PRIMARY KEY, email VARCHAR(50) UNIQUE, INDEX idx_email (email));",
        "CREATE TABLE t (id INT PRIMARY KEY, email VARCHAR(50) UNIQUE, INDEX ix (id, email));",
        id="LMS201-index-beside-unique",
    ),
    pytest.param(
        "LMS201",
        "CREATE TABLE t (id INT PRIMARY KEY, x INT, y INT, INDEX a (x));"
        "CREATE INDEX ab ON t (x, y DESC);",
        "CREATE TABLE t (id INT PRIMARY KEY, x INT, y INT, INDEX a (x), INDEX b (y, x));",
        id="LMS201-prefix-of-index",
    ),
    pytest.param(
        "LMS201",
        "CREATE TABLE t (id INT PRIMARY KEY, UNIQUE KEY u (id));",
        "CREATE TABLE t (id INT PRIMARY KEY, x INT, UNIQUE KEY u (x, id));",
        id="LMS201-unique-equal-to-pk",
    ),
    pytest.param(
        "LMS202",
        f"{PARENT} CREATE TABLE c (id INT PRIMARY KEY, p_id INT,"
        " INDEX ix (id, p_id), FOREIGN KEY (p_id) REFERENCES p(id));",
        f"{PARENT} CREATE TABLE c (id INT PRIMARY KEY, p_id INT,"
        " INDEX ix (p_id, id), FOREIGN KEY (p_id) REFERENCES p(id));",
        id="LMS202",
    ),
    pytest.param(
        "LMS301",
        "CREATE TABLE b (id INT PRIMARY KEY);"
        "CREATE TABLE a (id INT PRIMARY KEY, b_id INT, INDEX ix (b_id),"
        " FOREIGN KEY (b_id) REFERENCES b(id));",
        "CREATE TABLE a (id INT PRIMARY KEY);"
        "CREATE TABLE a2 (id INT PRIMARY KEY, a_id INT, INDEX ix (a_id),"
        " FOREIGN KEY (a_id) REFERENCES a(id));",
        id="LMS301-user-to-course",
    ),
    pytest.param(
        "LMS301",
        "CREATE TABLE g (id INT PRIMARY KEY);"
        "CREATE TABLE a (id INT PRIMARY KEY, g_id INT, INDEX ix (g_id),"
        " FOREIGN KEY (g_id) REFERENCES g(id));",
        "CREATE TABLE g (id INT PRIMARY KEY);"
        "CREATE TABLE x (id INT PRIMARY KEY, g_id INT, INDEX ix (g_id),"
        " FOREIGN KEY (g_id) REFERENCES g(id));",  # x has no keyspace: nothing to say
        id="LMS301-global-is-its-own-keyspace",
    ),
    pytest.param(
        "LMS401",
        "CREATE MATERIALIZED VIEW v AS SELECT 1 AS one;",
        "CREATE VIEW v AS SELECT 1 AS one;",
        id="LMS401-materialized-view",
    ),
    pytest.param("LMS401", "REFRESH MATERIALIZED VIEW v;", "SELECT 1;", id="LMS401-refresh"),
    pytest.param(
        "LMS401",
        "CREATE POLICY p ON users FOR SELECT USING (id = CURRENT_USER_ID());",
        "CREATE VIEW my_users AS SELECT id FROM users WHERE id = 1;",
        id="LMS401-policy",
    ),
    pytest.param(
        "LMS401",
        "ALTER TABLE users MODIFY COLUMN email VARCHAR(255) ENCRYPTED;",
        "ALTER TABLE users MODIFY COLUMN email VARCHAR(255) NOT NULL;",
        id="LMS401-encrypted",
    ),
    pytest.param(
        "LMS401",
        "CREATE TABLE e (t TIMESTAMPTZ NOT NULL, ip INET, p JSONB);",
        "CREATE TABLE e (t TIMESTAMP NOT NULL, ip VARCHAR(45), p JSON);",
        id="LMS401-postgres-types",
    ),
    pytest.param(
        "LMS401",
        "SELECT create_hypertable('e', 't');",
        "SELECT UNIX_TIMESTAMP();",
        id="LMS401-hypertable",
    ),
    pytest.param(
        "LMS401",
        "-- primary\n[mysqld]\nserver-id=1\nlog-bin=mysql-bin\n",
        "SET GLOBAL slow_query_log = 'ON';",
        id="LMS401-config-lines",
    ),
    pytest.param(
        "LMS401",
        "CREATE TABLE e (a INT); CREATE INDEX i ON e (a) WHERE a > 0;",
        "CREATE TABLE e (a INT); CREATE INDEX i ON e (a);",
        id="LMS401-partial-index",
    ),
    pytest.param(
        "LMS401",
        "SELEC * FORM t;",
        "ALTER INSTANCE ROTATE INNODB MASTER KEY;",
        id="LMS401-unparseable",
    ),
    pytest.param(
        "LMS402",
        "CREATE TABLE users (id INT PRIMARY KEY, first_name VARCHAR(9));"
        "EXPLAIN ANALYZE SELECT c.id, u.name FROM courses c JOIN users u ON c.uid = u.id;",
        "CREATE TABLE users (id INT PRIMARY KEY, first_name VARCHAR(9));"
        "EXPLAIN ANALYZE SELECT c.id, u.first_name FROM courses c JOIN users u ON c.uid = u.id;",
        id="LMS402-query",
    ),
    pytest.param(
        "LMS402",
        "CREATE TABLE t (id INT PRIMARY KEY, x INT); CREATE INDEX i ON t (y);",
        "CREATE TABLE t (id INT PRIMARY KEY, x INT); CREATE INDEX i ON t (x);",
        id="LMS402-index-column",
    ),
]


@pytest.mark.parametrize(("rule", "bad", "good"), CASES)
def test_rule_fires_on_bad_and_not_on_good(rule: str, bad: str, good: str) -> None:
    assert rule in fired(bad, KEYSPACES)
    assert rule not in fired(good, KEYSPACES)


def test_every_rule_has_a_case() -> None:
    from tests.unit.test_lint_manual_rules import MANUAL_CASES

    covered = {case.values[0] for case in CASES} | {case.values[0] for case in MANUAL_CASES}
    dev_url = {"LMS901", "LMS902"}  # server verdicts: tests/backend/test_lint_dev_url.py
    assert covered | dev_url == set(RULES)


def test_rule_registry_is_stable() -> None:
    # ids are never reused or renumbered; new rules are appended within their family
    assert list(RULES) == [
        "LMS101", "LMS102", "LMS103", "LMS104", "LMS105", "LMS106", "LMS107", "LMS108",
        "LMS109", "LMS110", "LMS111", "LMS112",
        "LMS201", "LMS202", "LMS203", "LMS204", "LMS205", "LMS206", "LMS207", "LMS208",
        "LMS209", "LMS210", "LMS211", "LMS212", "LMS213", "LMS214",
        "LMS301",
        "LMS401", "LMS402", "LMS403", "LMS404",
        "LMS501", "LMS502", "LMS503", "LMS504", "LMS505", "LMS506", "LMS507",
        "LMS601", "LMS602",
        "LMS901", "LMS902",
    ]  # fmt: skip
    assert len({r.name for r in RULES.values()}) == len(RULES)
    assert all(r.severity in ("error", "warning", "info") and r.description for r in RULES.values())


def test_finding_as_dict() -> None:
    finding = Finding("LMS201", "warning", "t", "msg", "x.sql:3")
    assert finding.to_dict() == {
        "rule": "LMS201",
        "severity": "warning",
        "table": "t",
        "message": "msg",
        "location": "x.sql:3",
        "name": "redundant-index",
    }


def test_locations_keep_markdown_line_numbers(tmp_path: Path) -> None:
    doc = tmp_path / "design.md"
    doc.write_text(
        "# Title\n\ntext\n\n```sql\n-- comment\nCREATE TABLE t (\n  id INT PRIMARY KEY,\n"
        "  email VARCHAR(9) UNIQUE,\n  INDEX idx_email (email)\n);\n```\n\n"
        '```json\n{"a": 1}\n```\n\n```sql\nSELECT t.nope FROM t;\n```\n'
    )
    findings = {f.rule: f for f in lint_paths([doc], keyspaces={})}
    assert findings["LMS201"].location == f"{doc}:10"
    assert findings["LMS402"].location == f"{doc}:19"
    assert set(findings) == {"LMS201", "LMS402"}


def test_splitter_ignores_semicolons_in_strings_and_comments() -> None:
    text = "-- a; b\nSELECT 'x;y', `c;d` /* e;\nf */ FROM t;\n# g;\nSELECT 2"
    statements = list(split_statements(Chunk("f.sql", text, 1)))
    assert [s.line for s in statements] == [2, 5]
    assert len(mask(text)) == len(text)


def test_lint_paths_reads_directories(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("CREATE TABLE t (id INT PRIMARY KEY, UNIQUE KEY u (id));")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [f.rule for f in lint_paths([tmp_path], keyspaces={})] == ["LMS201"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.sql", None, "no such file"),
        ("schema.txt", "SELECT 1;", "reads .sql and .md files only"),
        ("latin1.sql", b"SELECT '\xe9';", "not UTF-8"),
        ("empty_dir", "dir", "holds no .sql or .md file"),
    ],
)
def test_lint_paths_bad_input(
    tmp_path: Path, name: str, content: str | bytes | None, expected: str
) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=expected) as info:
        lint_paths([path])
    assert "\n" not in info.value.message


def test_bad_input_is_raised_before_linting(tmp_path: Path) -> None:
    good = tmp_path / "good.sql"
    good.write_text("SELEC nonsense;")
    with pytest.raises(InputError):
        lint_paths([good, tmp_path / "missing.sql"])


def test_fixture_files() -> None:
    assert not has_errors(lint_paths([FIXTURES / "clean.sql"], keyspaces={}))
    rules = {f.rule for f in lint_paths([FIXTURES / "broken.sql"], keyspaces={})}
    assert {"LMS101", "LMS103", "LMS201", "LMS401"} <= rules


def test_quoted_qualified_names_and_remove_partitioning() -> None:
    sql = (
        "CREATE TABLE `lms`.`t` (`id` INT NOT NULL, `ts` TIMESTAMP NOT NULL, PRIMARY KEY (`id`));"
        "ALTER TABLE `lms`.`t` PARTITION BY LINEAR HASH(`id` + MONTH(ts)) PARTITIONS 4;"
    )
    findings = lint_sql(sql, keyspaces={})
    assert {(f.rule, f.table) for f in findings} == {("LMS101", "t"), ("LMS103", "t")}
    assert not lint_sql(sql + "ALTER TABLE `lms`.`t` REMOVE PARTITIONING;", keyspaces={})
