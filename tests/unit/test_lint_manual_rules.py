"""The rules from the manuals' partitioning, index and foreign key chapters (#12): each
fires on a small case and stays quiet on its fixed twin, for the target it concerns;
plus the SQL front end's executable comments and DELIMITER blocks."""

from __future__ import annotations

import pytest

from lms_db.errors import InputError
from lms_db.lint import lint_sql
from lms_db.lint.sources import Chunk, expand_versioned, split_statements

P2 = "PARTITIONS 2"
PARENT = "CREATE TABLE p (id INT PRIMARY KEY, code INT, KEY (code));"


def fired(sql: str, target: str) -> set[str]:
    return {f.rule for f in lint_sql(sql, keyspaces={}, target=target) if f.severity == "error"}


# (rule, target, SQL where it fires, SQL where it does not)
MANUAL_CASES = [
    pytest.param(
        "LMS105",
        "mysql8",
        f"CREATE TABLE t (a INT) PARTITION BY HASH (a / 2) {P2};",
        f"CREATE TABLE t (a INT) PARTITION BY HASH (a DIV 2) {P2};",
        id="LMS105-slash",
    ),
    pytest.param(
        "LMS105",
        "mysql8",
        f"CREATE TABLE t (d DATE) PARTITION BY HASH (EXTRACT(WEEK FROM d)) {P2};",
        f"CREATE TABLE t (d DATE) PARTITION BY HASH (EXTRACT(MONTH FROM d)) {P2};",
        id="LMS105-week",
    ),
    pytest.param(
        "LMS105",
        "mariadb",
        f"CREATE TABLE t (d DATE) PARTITION BY HASH (DATEDIFF(d, '2000-01-01')) {P2};",
        f"CREATE TABLE t (d DATE) PARTITION BY HASH (TO_DAYS(d)) {P2};",
        id="LMS105-datediff-mariadb",
    ),
    pytest.param(
        "LMS106",
        "mysql8",
        f"CREATE TABLE t (s VARCHAR(9)) PARTITION BY HASH (s) {P2};",
        f"CREATE TABLE t (s VARCHAR(9)) PARTITION BY KEY (s) {P2};",
        id="LMS106-varchar-hash",
    ),
    pytest.param(
        "LMS106",
        "mysql8",
        f"CREATE TABLE t (d DATETIME) PARTITION BY HASH (UNIX_TIMESTAMP(d)) {P2};",
        f"CREATE TABLE t (d TIMESTAMP) PARTITION BY HASH (UNIX_TIMESTAMP(d)) {P2};",
        id="LMS106-unix-ts",
    ),
    pytest.param(
        "LMS107",
        "mysql8",
        "CREATE TABLE t (a INT) PARTITION BY RANGE (a) (PARTITION p0 VALUES LESS "
        "THAN MAXVALUE, PARTITION p1 VALUES LESS THAN (5));",
        "CREATE TABLE t (a INT) PARTITION BY RANGE (a) (PARTITION p0 VALUES LESS THAN (5), "
        "PARTITION p1 VALUES LESS THAN MAXVALUE);",
        id="LMS107-maxvalue",
    ),
    pytest.param(
        "LMS107",
        "mysql8",
        "CREATE TABLE t (a INT) PARTITION BY LIST (a) (PARTITION p0 VALUES IN (1),"
        " PARTITION p1 VALUES IN (1));",
        "CREATE TABLE t (a INT) PARTITION BY LIST (a) (PARTITION p0 "
        "VALUES IN (1), PARTITION p1 VALUES IN (2));",
        id="LMS107-list-repeat",
    ),
    pytest.param(
        "LMS108",
        "mysql8",
        f"CREATE TABLE t (a INT, b INT) PARTITION BY HASH (a) SUBPARTITION BY HASH (b) {P2};",
        "CREATE TABLE t (a INT, b INT) PARTITION BY RANGE (a) SUBPARTITION BY HASH (b) "
        "SUBPARTITIONS 2 (PARTITION p0 VALUES LESS THAN MAXVALUE);",
        id="LMS108-sub-of-hash",
    ),
    pytest.param(
        "LMS109",
        "mysql8",
        f"CREATE TEMPORARY TABLE t (a INT) PARTITION BY HASH (a) {P2};",
        f"CREATE TABLE t (a INT) PARTITION BY HASH (a) {P2};",
        id="LMS109-temporary",
    ),
    pytest.param(
        "LMS109",
        "mysql8",
        f"CREATE TABLE t (a INT) ENGINE=MyISAM PARTITION BY HASH (a) {P2};",
        f"CREATE TABLE t (a INT) ENGINE=InnoDB PARTITION BY HASH (a) {P2};",
        id="LMS109-myisam",
    ),
    pytest.param(
        "LMS110",
        "mysql8",
        f"CREATE TABLE t (a INT) PARTITION BY KEY () {P2};",
        f"CREATE TABLE t (a INT PRIMARY KEY) PARTITION BY KEY () {P2};",
        id="LMS110",
    ),
    pytest.param(
        "LMS111",
        "mysql8",
        f"CREATE TABLE t (a INT) PARTITION BY HASH (a) {P2}; ALTER TABLE t DROP PARTITION p0;",
        "CREATE TABLE t (a INT) PARTITION BY HASH (a) PARTITIONS 3;"
        " ALTER TABLE t COALESCE PARTITION 1;",
        id="LMS111",
    ),
    pytest.param(
        "LMS112",
        "mysql8",
        "CREATE TABLE t (a INT) PARTITION BY LIST (a) (PARTITION p0 VALUES IN (1, 2));"
        " INSERT INTO t VALUES (3);",
        "CREATE TABLE t (a INT) PARTITION BY LIST (a) (PARTITION p0 VALUES IN (1, 2));"
        " INSERT INTO t VALUES (2);",
        id="LMS112",
    ),
    pytest.param(
        "LMS213",
        "mysql8",
        "CREATE TABLE t (id INT, PRIMARY KEY (id) INVISIBLE);",
        "CREATE TABLE t (id INT, k INT, PRIMARY KEY (id), KEY (k) INVISIBLE);",
        id="LMS213",
    ),
    pytest.param(
        "LMS214",
        "mysql8",
        "CREATE TABLE t (a INT NULL, PRIMARY KEY (a));",
        "CREATE TABLE t (a INT, PRIMARY KEY (a));",
        id="LMS214",
    ),
    pytest.param(
        "LMS506",
        "mysql8",
        f"{PARENT} CREATE TABLE c (x INT, KEY ix (x), CONSTRAINT f FOREIGN KEY (x) REFERENCES"
        " p (id)); ALTER TABLE c DROP INDEX ix;",
        f"{PARENT} CREATE TABLE c (x INT, KEY ix (x), CONSTRAINT f FOREIGN KEY (x) REFERENCES"
        " p (id)); ALTER TABLE c DROP FOREIGN KEY f, DROP INDEX ix;",
        id="LMS506",
    ),
    pytest.param(
        "LMS203",
        "mysql8",
        "CREATE TABLE t (a INT, b INT, KEY k (a), KEY k (b));",
        "CREATE TABLE t (a INT, b INT, KEY k (a), KEY k2 (b));",
        id="LMS203",
    ),
    pytest.param(
        "LMS204",
        "mysql8",
        "CREATE TABLE t (a INT, KEY (a, a));",
        "CREATE TABLE t (a INT, KEY (a));",
        id="LMS204",
    ),
    pytest.param(
        "LMS205",
        "mysql8",
        "CREATE TABLE t (s VARCHAR(5), KEY (s(9)));",
        "CREATE TABLE t (s VARCHAR(9), KEY (s(9)));",
        id="LMS205",
    ),
    pytest.param(
        "LMS206",
        "mysql8",
        "CREATE TABLE t (b TEXT, KEY (b));",
        "CREATE TABLE t (b TEXT, KEY (b(20)));",
        id="LMS206",
    ),
    pytest.param(
        "LMS207",
        "mysql8",
        "CREATE TABLE t (a VARCHAR(1000), KEY (a));",
        "CREATE TABLE t (a VARCHAR(768), KEY (a));",
        id="LMS207",
    ),
    pytest.param(
        "LMS208",
        "mysql8",
        "CREATE TABLE t ("
        + ", ".join(f"c{i} INT" for i in range(17))
        + ", KEY ("
        + ", ".join(f"c{i}" for i in range(17))
        + "));",
        "CREATE TABLE t ("
        + ", ".join(f"c{i} INT" for i in range(16))
        + ", KEY ("
        + ", ".join(f"c{i}" for i in range(16))
        + "));",
        id="LMS208",
    ),
    pytest.param(
        "LMS209",
        "mysql8",
        "CREATE TABLE t (g POINT, SPATIAL KEY (g));",
        "CREATE TABLE t (g POINT NOT NULL, SPATIAL KEY (g));",
        id="LMS209-spatial-null",
    ),
    pytest.param(
        "LMS210",
        "mysql8",
        "CREATE TABLE t (a INT AUTO_INCREMENT, b INT);",
        "CREATE TABLE t (a INT AUTO_INCREMENT, b INT, KEY (a));",
        id="LMS210",
    ),
    pytest.param(
        "LMS211",
        "mysql8",
        "CREATE TABLE t (a INT, KEY ((a)));",
        "CREATE TABLE t (a INT, KEY ((a + 1)));",
        id="LMS211",
    ),
    pytest.param(
        "LMS212",
        "mysql8",
        "CREATE TABLE t (a INT, b INT AS (a) VIRTUAL, PRIMARY KEY (b));",
        "CREATE TABLE t (a INT, b INT AS (a) VIRTUAL, KEY (b));",
        id="LMS212",
    ),
    pytest.param(
        "LMS403",
        "mysql8",
        "CREATE TABLE t (a INT, a INT);",
        "CREATE TABLE t (a INT, b INT);",
        id="LMS403",
    ),
    pytest.param(
        "LMS404",
        "mariadb",
        "CREATE TABLE t (a INT) ENGINE=ARCHIVE;",
        "CREATE TABLE t (a INT) ENGINE=Aria;",
        id="LMS404",
    ),
    pytest.param(
        "LMS501",
        "mysql8",
        "CREATE TABLE c (x INT, FOREIGN KEY (x) REFERENCES nowhere (id));",
        f"{PARENT} CREATE TABLE c (x INT, FOREIGN KEY (x) REFERENCES p (id));",
        id="LMS501",
    ),
    pytest.param(
        "LMS502",
        "mysql8",
        f"{PARENT} CREATE TABLE c (x BIGINT, FOREIGN KEY (x) REFERENCES p (id));",
        f"{PARENT} CREATE TABLE c (x INT, FOREIGN KEY (x) REFERENCES p (id));",
        id="LMS502",
    ),
    pytest.param(
        "LMS503",
        "mysql8",
        "CREATE TABLE p (id INT PRIMARY KEY, v INT);"
        " CREATE TABLE c (x INT, FOREIGN KEY (x) REFERENCES p (v));",
        f"{PARENT} CREATE TABLE c (x INT, FOREIGN KEY (x) REFERENCES p (code));",
        id="LMS503",
    ),
    pytest.param(
        "LMS504",
        "mysql8",
        f"{PARENT} CREATE TABLE c (x INT NOT NULL,"
        " FOREIGN KEY (x) REFERENCES p (id) ON DELETE SET NULL);",
        f"{PARENT} CREATE TABLE c (x INT, FOREIGN KEY (x) REFERENCES p (id) ON DELETE SET NULL);",
        id="LMS504",
    ),
    pytest.param(
        "LMS505",
        "mysql8",
        f"{PARENT} CREATE TABLE c (x INT, CONSTRAINT f FOREIGN KEY (x) REFERENCES p (id));"
        " CREATE TABLE d (x INT, CONSTRAINT f FOREIGN KEY (x) REFERENCES p (id));",
        f"{PARENT} CREATE TABLE c (x INT, CONSTRAINT f FOREIGN KEY (x) REFERENCES p (id));"
        " CREATE TABLE d (x INT, CONSTRAINT g FOREIGN KEY (x) REFERENCES p (id));",
        id="LMS505",
    ),
    pytest.param(
        "LMS507",
        "mariadb",
        f"{PARENT} CREATE TABLE c (x INT, FOREIGN KEY (x) REFERENCES p (id));"
        " INSERT INTO p (id) VALUES (1); INSERT INTO c VALUES (2);",
        f"{PARENT} CREATE TABLE c (x INT, FOREIGN KEY (x) REFERENCES p (id));"
        " INSERT INTO p (id) VALUES (1); INSERT INTO c VALUES (1), (NULL);",
        id="LMS507",
    ),
    pytest.param(
        "LMS601",
        "mysql8",
        "CREATE TABLE t (ip INET6);",
        "CREATE TABLE t (ip VARBINARY(16));",
        id="LMS601",
    ),
    pytest.param(
        "LMS602",
        "mariadb",
        "CREATE TABLE t (a INT, KEY i (a) INVISIBLE);",
        "CREATE TABLE t (a INT, KEY i (a) IGNORED);",
        id="LMS602",
    ),
]


@pytest.mark.parametrize(("rule", "target", "bad", "good"), MANUAL_CASES)
def test_manual_rule_fires_on_bad_and_not_on_good(
    rule: str, target: str, bad: str, good: str
) -> None:
    assert rule in fired(bad, target)
    assert fired(good, target) == set()


@pytest.mark.parametrize(
    ("sql", "mysql8", "mariadb"),
    [
        # MySQL 8 ignores inline REFERENCES; MariaDB makes them foreign keys
        (
            f"CREATE TABLE t (id INT, x INT REFERENCES nowhere (id)) PARTITION BY HASH (id) {P2};",
            set(),
            {"LMS102", "LMS501"},
        ),
        # MariaDB accepts FULLTEXT on a partitioned InnoDB table (warning there)
        (
            f"CREATE TABLE t (id INT, b TEXT, FULLTEXT (b)) PARTITION BY HASH (id) {P2};",
            {"LMS104"},
            set(),
        ),
        ("CREATE TABLE t (a INT) COLLATE utf8mb4_0900_ai_ci;", set(), {"LMS602"}),
        ("CREATE SEQUENCE s;", {"LMS601"}, set()),
        (
            "CREATE TABLE t (a INT); ALTER TABLE t ADD COLUMN IF NOT EXISTS b INT;",
            {"LMS601"},
            set(),
        ),
        ("CREATE TABLE t (a TEXT, KEY (a));", {"LMS206"}, set()),
    ],
)
def test_targets_differ(sql: str, mysql8: set[str], mariadb: set[str]) -> None:
    assert fired(sql, "mysql8") == mysql8
    assert fired(sql, "mariadb") == mariadb


def test_fulltext_on_partitioned_is_a_warning_on_mariadb() -> None:
    sql = f"CREATE TABLE t (id INT, b TEXT, FULLTEXT (b)) PARTITION BY HASH (id) {P2};"
    (only,) = [f for f in lint_sql(sql, keyspaces={}, target="mariadb") if f.rule == "LMS104"]
    assert only.severity == "warning" and "MariaDB accepts it" in only.message


def test_unknown_target_is_bad_input() -> None:
    with pytest.raises(InputError, match="unknown lint target 'oracle'"):
        lint_sql("SELECT 1;", target="oracle")


def test_executable_comments_by_target() -> None:
    text = "SELECT 1 /*!50100 +1 */ /*!50700 +2 */ /*M!100500 +3 */ /*!80003 +4 */ /* +5 */;"
    mysql = expand_versioned(text, 80040, mariadb=False)
    maria = expand_versioned(text, 101119, mariadb=True)
    assert len(mysql) == len(maria) == len(text)
    assert " +1 " in mysql and " +2 " in mysql and "+3" in mysql and " +4 " in mysql
    assert "/*M!100500 +3 */" in mysql  # a comment for MySQL
    assert " +1 " in maria and "/*!50700 +2 */" in maria and " +3 " in maria
    assert "/*!80003 +4 */" in maria and "/* +5 */" in maria


def test_executable_partition_clause_is_linted() -> None:
    sql = (
        "CREATE TABLE t (id INT PRIMARY KEY, d DATE)\n"
        "/*!50100 PARTITION BY RANGE (YEAR(d)) (PARTITION p0 VALUES LESS THAN MAXVALUE) */;"
    )
    findings = lint_sql(sql, keyspaces={})
    assert [(f.rule, f.location) for f in findings] == [("LMS101", "<sql>:1")]


def test_delimiter_blocks_split_as_the_client_does() -> None:
    text = (
        "CREATE TABLE t (a INT);\n"
        "DELIMITER ;;\n"
        "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN\n"
        "  SET NEW.a = 1; SET NEW.a = 2;\n"
        "END;;\n"
        "DELIMITER ;\n"
        "SELECT 1; SELECT 2;\n"
    )
    statements = list(split_statements(Chunk("f.sql", text, 1)))
    assert [s.line for s in statements] == [1, 3, 7, 7]
    assert statements[1].text.strip().endswith("END")
    assert not [f for f in lint_sql(text, keyspaces={}) if f.severity == "error"]


def test_point_with_spatial_index_is_no_error() -> None:
    sql = "CREATE TABLE t (id INT PRIMARY KEY, g POINT NOT NULL SRID 4326, SPATIAL INDEX (g));"
    assert lint_sql(sql, keyspaces={}) == []


def test_locations_point_at_the_element() -> None:
    sql = "CREATE TABLE t (\n  a INT,\n  KEY k (a),\n  KEY k (a)\n);"
    (dup,) = [f for f in lint_sql(sql, keyspaces={}) if f.rule == "LMS203"]
    assert dup.location == "<sql>:4"
