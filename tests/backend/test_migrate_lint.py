"""``migrate up`` and ``migrate sql`` lint the revisions they would run (#12): an
error-severity finding stops them (exit 1) before anything changes; ``--no-lint`` skips it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.backend.fleet_helpers import (
    add_revision,
    copy_migrations,
    lmsdb,
    revision_of,
    table_names,
    write_topology,
)

#: A prefix on an INT column: MySQL and MariaDB refuse it (error 1089).
BAD = 'op.execute("CREATE TABLE lint_probe (id INT PRIMARY KEY, n INT, KEY (n(3)))")'
UNDO = 'op.execute("DROP TABLE lint_probe")'


def _bad_scripts(tmp_path: Path) -> Path:
    scripts = copy_migrations(tmp_path)
    add_revision(scripts, "0002", "0001", BAD, UNDO)
    return scripts


def test_migrate_sql_stops_on_a_lint_error(tmp_path: Path) -> None:
    scripts = _bad_scripts(tmp_path)
    refused = lmsdb(None, "migrate", "sql", "base:head", "-d", "mariadb", "--scripts", str(scripts))
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert "LMS205" in refused.stderr and "revision 0002" in refused.stderr
    assert refused.stderr.count("\n") == 1
    skipped = lmsdb(None, "migrate", "sql", "base:head", "-d", "mariadb", "--scripts",
                    str(scripts), "--no-lint")  # fmt: skip
    assert skipped.exit_code == 0 and "lint_probe" in skipped.stdout
    pg = lmsdb(None, "migrate", "sql", "base:head", "-d", "postgresql", "--scripts", str(scripts))
    assert pg.exit_code == 0  # PostgreSQL DDL is not linted with MySQL rules
    assert lmsdb(None, "migrate", "sql", "base:head", "-d", "mysql").exit_code == 0


@pytest.mark.mariadb
def test_migrate_up_stops_before_changing_anything(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    catalog, shard = make_mariadb_database(), make_mariadb_database()
    topology = write_topology(tmp_path, catalog, [shard])
    scripts = _bad_scripts(tmp_path)
    refused = lmsdb(topology, "migrate", "up", "--scripts", str(scripts))
    assert refused.exit_code == 1, refused.output
    assert "LMS205" in refused.stderr and "--no-lint" in refused.stderr
    assert revision_of(shard) is None and table_names(shard) == set()
    # the shard at 0001: only 0002 is pending, and it is still refused
    assert lmsdb(topology, "migrate", "up", "0001", "--scripts", str(scripts)).exit_code == 0
    assert revision_of(shard) == "0001"
    again = lmsdb(topology, "migrate", "up", "--scripts", str(scripts))
    assert again.exit_code == 1 and "revision 0002" in again.stderr
    assert revision_of(shard) == "0001"
    # --no-lint lets the server judge: it refuses the prefix too, and the shard stays at 0001
    forced = lmsdb(topology, "migrate", "up", "--scripts", str(scripts), "--no-lint")
    assert forced.exit_code == 1
    assert "lint_probe" not in table_names(shard)
    assert revision_of(shard) == "0001"
