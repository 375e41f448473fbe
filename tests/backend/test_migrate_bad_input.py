"""Bad topology files and bad arguments: one line, exit 2, and no database touched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.backend.fleet_helpers import lmsdb, table_names, topology_text

SHARD = """
[[shards]]
name = "{name}"
primary = "{url}"
ranges = {{ user = [{lo}, {hi}] }}
"""


def _write(tmp_path: Path, shards: list[tuple[str, str, int, int]], catalog: str = "") -> Path:
    catalog = catalog or f"sqlite:///{tmp_path / 'catalog.db'}"
    text = f'[catalog]\nurl = "{catalog}"\n' + "".join(
        SHARD.format(name=n, url=u, lo=lo, hi=hi) for n, u, lo, hi in shards
    )
    path = tmp_path / "topology.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _sqlite(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}.db"


def _assert_one_line_exit_2(output: str, exit_code: int, expected: str) -> None:
    assert exit_code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert expected in lines[0], output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("shards", "expected"),
    [
        ([("a", "s0", 0, 100), ("b", "s1", 50, 200)], "range [50, 200) of b overlaps a"),
        ([("a", "s0", 0, 100), ("b", "s1", 150, 200)], "gap: no shard covers [100, 150)"),
        ([("a", "s0", 0, 100), ("a", "s1", 100, 200)], "duplicate shard name 'a'"),
    ],
    ids=["overlap", "gap", "duplicate-name"],
)
@pytest.mark.parametrize("command", [["migrate", "up"], ["migrate", "status"], ["schema", "check"]])
def test_invalid_topology(
    tmp_path: Path, shards: list[tuple[str, str, int, int]], expected: str, command: list[str]
) -> None:
    topology = _write(tmp_path, [(n, _sqlite(tmp_path, u), lo, hi) for n, u, lo, hi in shards])
    result = lmsdb(topology, *command)
    _assert_one_line_exit_2(result.output, result.exit_code, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["topology.toml"]


def test_missing_environment_variable(tmp_path: Path) -> None:
    url = "mysql+pymysql://lms:${LMSDB_TEST_UNSET_PASSWORD}@127.0.0.1:3306/lms_shard_0"
    topology = _write(tmp_path, [("a", url, 0, 100)])
    result = lmsdb(topology, "migrate", "up")
    _assert_one_line_exit_2(
        result.output, result.exit_code, "environment variable LMSDB_TEST_UNSET_PASSWORD is not set"
    )
    assert not (tmp_path / "catalog.db").exists()


def test_unreachable_host(tmp_path: Path) -> None:
    topology = _write(
        tmp_path,
        [
            ("a", _sqlite(tmp_path, "s0"), 0, 100),
            ("b", "mysql+pymysql://root@127.0.0.1:1/lms_shard_1", 100, 200),
        ],
    )
    result = lmsdb(topology, "migrate", "up")
    _assert_one_line_exit_2(
        result.output,
        result.exit_code,
        "cannot connect to shard b primary (mysql+pymysql://root@127.0.0.1:1/lms_shard_1)",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["topology.toml"]


@pytest.mark.mariadb
def test_wrong_password_shows_no_secret(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    catalog, shard = make_mariadb_database(), make_mariadb_database()
    good = catalog.render_as_string(hide_password=False)
    bad = shard.set(password="${LMSDB_TEST_PW}").render_as_string(hide_password=False)
    bad = bad.replace("%24%7BLMSDB_TEST_PW%7D", "${LMSDB_TEST_PW}")
    topology = _write(tmp_path, [("a", bad, 0, 100)], catalog=good)
    result = lmsdb(topology, "migrate", "up", env={"LMSDB_TEST_PW": "not-the-password"})
    _assert_one_line_exit_2(result.output, result.exit_code, "Access denied for user 'root'")
    assert "not-the-password" not in result.output and ":***@" in result.output
    assert table_names(catalog) == set() and table_names(shard) == set()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["migrate", "up", "--shard", "shard-9"], "unknown shard(s) shard-9"),
        (["migrate", "up", "nope"], "unknown revision 'nope'"),
        (["migrate", "down", "nope", "--yes"], "unknown revision 'nope'"),
        (["migrate", "up", "--target", "olap"], "unknown target 'olap'"),
        (["migrate", "up", "--target", "analytics"], "no [analytics] section"),
        (["migrate", "plan", "--shard", "shard-9"], "unknown shard(s) shard-9"),
        (["schema", "check", "--shard", "shard-9"], "unknown shard(s) shard-9"),
    ],
)
def test_bad_arguments(tmp_path: Path, args: list[str], expected: str) -> None:
    topology = tmp_path / "topology.toml"
    topology.write_text(
        topology_text(
            _sqlite(tmp_path, "catalog"), [_sqlite(tmp_path, "s0"), _sqlite(tmp_path, "s1")]
        )
    )
    result = lmsdb(topology, *args)
    _assert_one_line_exit_2(result.output, result.exit_code, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["topology.toml"]


def test_no_topology_at_all() -> None:
    result = lmsdb(None, "migrate", "up")
    _assert_one_line_exit_2(result.output, result.exit_code, "no topology file")
