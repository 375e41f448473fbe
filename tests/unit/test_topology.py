"""Topology files: the shipped examples load, and every problem is named file: field: problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lms_db.config import (
    DEFAULT_CONNECT_TIMEOUT,
    Settings,
    expand_env,
    require_topology_path,
    resolve_settings,
    topology_path_from_env,
)
from lms_db.errors import ConfigError, TopologyInvalid, UnknownObjectError
from lms_db.topology.spec import load_topology
from lms_db.topology.template import TOPOLOGY_TEMPLATE, write_topology_template
from lmsdb_cli.init import init
from lmsdb_cli.output import LmsdbGroup

SHARDS_DIR = Path(__file__).resolve().parents[2] / "shards"
SECRET = "hunter2-s3cr3t"
CATALOG = '[catalog]\nurl = "sqlite:///./catalog.db"\n'


def shard(name: str, db: str, ranges: str = "{}", extra: str = "") -> str:
    return (
        f'[[shards]]\nname = "{name}"\nprimary = "sqlite:///./{db}.db"\nranges = {ranges}\n{extra}'
    )


TWO_SHARDS = (
    CATALOG
    + shard("shard-0", "s0", "{ user = [0, 100], course = [0, 10] }")
    + shard("shard-1", "s1", "{ user = [100, 200], course = [10, 20] }")
)


def write(tmp_path: Path, text: str, name: str = "topo.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_topology(path, environ=environ or {})
    return info.value


# -- the shipped files -------------------------------------------------------------------


def test_local_sqlite_topology_loads_with_paths_beside_the_file() -> None:
    topology = load_topology(SHARDS_DIR / "local-sqlite.toml", environ={})
    assert topology.shard_names == ("shard-0", "shard-1", "shard-2")
    assert topology.catalog.url.database == str(SHARDS_DIR / "local" / "catalog.db")
    assert topology.shard("shard-1").primary.url.database == str(SHARDS_DIR / "local/shard-1.db")
    assert topology.ranges("user") == [
        (0, 1_000_000, "shard-0"),
        (1_000_000, 2_000_000, "shard-1"),
        (2_000_000, 3_000_000, "shard-2"),
    ]
    assert topology.ranges("course")[-1] == (20_000, 30_000, "shard-2")
    assert topology.analytics is None


def test_local_mariadb_topology_loads() -> None:
    topology = load_topology(SHARDS_DIR / "local-mariadb.toml", environ={})
    assert len(topology.shards) == 4
    assert topology.catalog.url.database == "lmsdb_catalog"
    assert topology.analytics is not None
    assert topology.analytics.dialect == "postgresql"
    assert [s.primary.url.database for s in topology.shards] == [f"lms_shard_{i}" for i in range(4)]


def test_production_example_expands_passwords_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LMS_DB_PASSWORD", "p@ss/w:rd%" + SECRET)
    monkeypatch.setenv("LMS_ANALYTICS_PASSWORD", SECRET)
    topology = load_topology(SHARDS_DIR / "production.example.toml")
    primary = topology.shard("shard-0").primary
    assert primary.url.password == "p@ss/w:rd%" + SECRET
    assert "${LMS_DB_PASSWORD}" in primary.template
    assert SECRET not in primary.display and "***" in primary.display
    assert SECRET not in repr(topology)
    assert len(topology.shard("shard-0").replicas) == 2
    assert topology.shard("shard-2").ranges == {}


def test_production_example_without_the_variable_names_it(tmp_path: Path) -> None:
    error = load_error(SHARDS_DIR / "production.example.toml")
    assert "production.example.toml: catalog.url: environment variable LMS_DB_PASSWORD" in str(
        error
    )
    assert "more)" in error.message


def test_template_loads_and_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write_topology_template(tmp_path / "shards" / "dev.toml")
    assert path.read_text() == TOPOLOGY_TEMPLATE
    topology = load_topology(path, environ={})
    assert topology.catalog.url.database == str(tmp_path / "shards" / "local" / "catalog.db")
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        write_topology_template(path)
    path.write_text("changed")
    write_topology_template(path, force=True)
    assert path.read_text() == TOPOLOGY_TEMPLATE


def test_init_command(tmp_path: Path) -> None:
    app = typer.Typer(cls=LmsdbGroup)
    app.callback()(lambda: None)
    app.command()(init)
    runner = CliRunner()
    target = tmp_path / "dev.toml"
    result = runner.invoke(app, ["init", str(target)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert target.read_text() == TOPOLOGY_TEMPLATE
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 2
    assert "already exists" in again.output
    forced = runner.invoke(app, ["init", str(target), "--force"], catch_exceptions=False)
    assert forced.exit_code == 0


# -- every validation problem ------------------------------------------------------------

RANGE_CASES = {
    "overlap": (
        CATALOG + shard("a", "a", "{ user = [0, 100] }") + shard("b", "b", "{ user = [50, 200] }"),
        "shards[1].ranges.user",
        "range [50, 200) of b overlaps a, which covers up to 100",
    ),
    "gap-between": (
        CATALOG + shard("a", "a", "{ user = [0, 100] }") + shard("b", "b", "{ user = [150, 200] }"),
        "shards[1].ranges.user",
        "gap: no shard covers [100, 150) between a and b",
    ),
    "gap-at-start": (
        CATALOG + shard("a", "a", "{ course = [5, 100] }"),
        "shards[0].ranges.course",
        "no shard covers [0, 5)",
    ),
    "contained-overlap": (
        CATALOG
        + shard("a", "a", "{ user = [0, 1000] }")
        + shard("b", "b", "{ user = [10, 20] }")
        + shard("c", "c", "{ user = [1000, 2000] }"),
        "shards[1].ranges.user",
        "overlaps a",
    ),
    "empty-range": (
        CATALOG + shard("a", "a", "{ user = [5, 5] }"),
        "shards[0].ranges.user",
        "need 0 <= lo < hi",
    ),
    "negative": (
        CATALOG + shard("a", "a", "{ user = [-1, 5] }"),
        "shards[0].ranges.user",
        "need 0 <= lo < hi",
    ),
    "float": (
        CATALOG + shard("a", "a", "{ user = [0, 1.5] }"),
        "shards[0].ranges.user",
        "must be two integers",
    ),
    "bool": (
        CATALOG + shard("a", "a", "{ user = [false, true] }"),
        "shards[0].ranges.user",
        "must be two integers",
    ),
    "three-bounds": (
        CATALOG + shard("a", "a", "{ user = [0, 1, 2] }"),
        "shards[0].ranges.user",
        "must be two integers",
    ),
    "global-keyspace": (
        CATALOG + shard("a", "a", "{ global = [0, 10] }"),
        "shards[0].ranges.global",
        "keyspace 'global' is not range-sharded",
    ),
    "unknown-keyspace": (
        CATALOG + shard("a", "a", "{ users = [0, 10] }"),
        "shards[0].ranges.users",
        "ranges are for user or course",
    ),
    "ranges-not-table": (
        CATALOG + shard("a", "a", "[0, 10]"),
        "shards[0].ranges",
        "must be a table",
    ),
}

STRUCTURE_CASES = {
    "bad-toml": ("[catalog\nurl = 1\n", "line 1, column 9", "invalid TOML"),
    "unknown-top-key": (TWO_SHARDS + "[catalogue]\nurl = 'x'\n", "catalogue", "unknown key"),
    "unknown-catalog-key": (
        '[catalog]\nurl = "sqlite://"\nuri = "x"\n' + shard("a", "a"),
        "catalog.uri",
        "unknown key; allowed here: url",
    ),
    "unknown-shard-key": (
        CATALOG + shard("a", "a", extra='primry = "x"\n'),
        "shards[0].primry",
        "unknown key",
    ),
    "missing-catalog": (shard("a", "a"), "catalog", "missing; add a [catalog] table"),
    "catalog-without-url": ("[catalog]\n" + shard("a", "a"), "catalog.url", "missing"),
    "no-shards": (CATALOG, "shards", "no shards; add at least one [[shards]] table"),
    "duplicate-name": (
        CATALOG + shard("a", "a") + shard("a", "b"),
        "shards[1].name",
        "duplicate shard name 'a' (also shards[0])",
    ),
    "bad-name": (CATALOG + shard("a b", "a"), "shards[0].name", "missing or invalid"),
    "missing-primary": (CATALOG + '[[shards]]\nname = "a"\n', "shards[0].primary", "missing"),
    "replicas-not-list": (
        CATALOG + shard("a", "a", extra='replicas = "sqlite://"\n'),
        "shards[0].replicas",
        "must be an array of URLs",
    ),
    "same-database-twice": (
        CATALOG + shard("a", "a") + shard("b", "a"),
        "shards[1].primary",
        "same database as shards[0].primary",
    ),
    "analytics-in-a-shard": (
        CATALOG + '[analytics]\nurl = "sqlite:///./a.db"\n' + shard("a", "a"),
        "shards[0].primary",
        "same database as analytics.url",
    ),
    "catalog-in-a-shard": (
        CATALOG + shard("a", "catalog"),
        "shards[0].primary",
        "same database as catalog.url",
    ),
}

URL_CASES = {
    "unparsable": ("not a url", "not a valid database URL"),
    "bad-port": ("mysql+pymysql://u@h:port/db", "not a valid database URL"),
    "unknown-driver": ("oracle://u@h/db", "unknown driver 'oracle'"),
    "driver-hint": ("mysql://u@h/db", "did you mean mysql+pymysql?"),
    "no-database": ("mysql+pymysql://u@h:3306", "the URL names no database"),
    "no-host": ("postgresql+psycopg:///db", "the URL names no host"),
    "literal-password": (
        f"mysql+pymysql://lms:{SECRET}@h:3306/db",
        "put the password in an environment variable",
    ),
    "literal-password-in-query": (
        f"mysql+pymysql://lms@h:3306/db?password={SECRET}",
        "put the password in an environment variable",
    ),
    "password-partly-literal": (
        f"mysql+pymysql://lms:{SECRET}${{PW}}@h:3306/db",
        "literal password",
    ),
    "missing-env-var": (
        "mysql+pymysql://lms:${LMS_TEST_MISSING}@h:3306/db",
        "environment variable LMS_TEST_MISSING is not set",
    ),
    "malformed-reference": ("mysql+pymysql://${1X}@h:3306/db", "malformed variable reference"),
}


def _assert_problem(error: ConfigError, path: Path, field: str, problem: str) -> None:
    assert error.message.startswith(f"{path}: {field}: "), error.message
    assert problem in error.message
    assert "\n" not in error.message
    assert SECRET not in error.message
    assert all(SECRET not in p for p in getattr(error, "problems", ()))


@pytest.mark.parametrize(("text", "field", "problem"), RANGE_CASES.values(), ids=RANGE_CASES)
def test_range_problems(tmp_path: Path, text: str, field: str, problem: str) -> None:
    path = write(tmp_path, text)
    _assert_problem(load_error(path), path, field, problem)


@pytest.mark.parametrize(
    ("text", "field", "problem"), STRUCTURE_CASES.values(), ids=STRUCTURE_CASES
)
def test_structure_problems(tmp_path: Path, text: str, field: str, problem: str) -> None:
    path = write(tmp_path, text)
    _assert_problem(load_error(path), path, field, problem)


@pytest.mark.parametrize(("url", "problem"), URL_CASES.values(), ids=URL_CASES)
@pytest.mark.parametrize("where", ["catalog", "primary", "replica"])
def test_url_problems(tmp_path: Path, url: str, problem: str, where: str) -> None:
    catalog_url = url if where == "catalog" else "sqlite:///./c.db"
    primary = url if where == "primary" else "sqlite:///./p.db"
    replicas = f'["{url}"]' if where == "replica" else "[]"
    text = (
        f'[catalog]\nurl = "{catalog_url}"\n[[shards]]\nname = "a"\n'
        f'primary = "{primary}"\nreplicas = {replicas}\n'
    )
    field = {
        "catalog": "catalog.url",
        "primary": "shards[0].primary",
        "replica": "shards[0].replicas[0]",
    }[where]
    path = write(tmp_path, text)
    _assert_problem(load_error(path, {"PW": "x"}), path, field, problem)


def test_several_problems_show_the_first_and_count_the_rest(tmp_path: Path) -> None:
    text = (
        f'[catalog]\nurl = "mysql+pymysql://root:{SECRET}@h/c"\n'
        + shard("a", "a", "{ user = [0, 10] }")
        + shard("a", "b", "{ course = [0, 30] }")
        + shard("c", "c", "{ user = [20, 30] }")
    )
    path = write(tmp_path, text)
    with pytest.raises(TopologyInvalid) as info:
        load_topology(path, environ={})
    error = info.value
    assert error.message == f"{error.problems[0]} (and {len(error.problems) - 1} more)"
    assert error.problems[0].startswith(f"{path}: catalog.url: ")
    assert any("duplicate shard name" in p for p in error.problems)
    assert any("gap: no shard covers [10, 20)" in p for p in error.problems)
    assert error.exit_code == 2
    assert SECRET not in str(error.problems)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    error = load_error(path)
    assert error.message.startswith(f"{path}: cannot read the topology file")


# -- accepted forms --------------------------------------------------------------------


def test_shard_without_ranges_and_keyspace_without_ranges_are_allowed(tmp_path: Path) -> None:
    text = CATALOG + shard("a", "a", "{ user = [0, 10] }") + shard("b", "b")
    topology = load_topology(write(tmp_path, text), environ={})
    assert topology.shard("b").ranges == {}
    assert topology.ranges("course") == []


def test_sqlite_paths_resolve_against_the_file_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    monkeypatch.chdir(tmp_path)
    text = '[catalog]\nurl = "sqlite:///../data/c.db"\n' + shard("a", "a")
    write(tmp_path / "conf", text)
    topology = load_topology(Path("conf") / "topo.toml", environ={})
    assert topology.catalog.url.database == str(tmp_path / "data" / "c.db")
    absolute = (
        '[catalog]\nurl = "sqlite:////tmp/x/c.db"\n[[shards]]\nname = "a"\nprimary = "sqlite://"\n'
    )
    topology = load_topology(write(tmp_path, absolute), environ={})
    assert topology.catalog.url.database == "/tmp/x/c.db"
    assert topology.shard("a").primary.url.database is None


def test_variables_expand_in_every_part_of_a_url(tmp_path: Path) -> None:
    text = (
        '[catalog]\nurl = "postgresql+psycopg://${DB_USER}:${PW}@${DB_HOST}:5432/cat$$x"\n'
        + shard("a", "a")
    )
    environ = {"DB_USER": "lms", "PW": "a@b:c/d", "DB_HOST": "db.internal"}
    ref = load_topology(write(tmp_path, text), environ=environ).catalog
    assert (ref.url.username, ref.url.password, ref.url.host) == ("lms", "a@b:c/d", "db.internal")
    assert ref.url.database == "cat$x"
    assert ref.display.startswith("postgresql+psycopg://lms:***@db.internal:5432/cat")
    assert ref.template.startswith("postgresql+psycopg://${DB_USER}")


def test_topology_lookups(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, TWO_SHARDS), environ={})
    assert topology.shard("shard-1").ranges["course"] == (10, 20)
    known = r"no shard named 'nope' \(known: shard-0, shard-1\)"
    with pytest.raises(UnknownObjectError, match=known):
        topology.shard("nope")


# -- lms_db.config ---------------------------------------------------------------------


def test_expand_env() -> None:
    assert expand_env("a${X}b$$c$d", where="f: g", environ={"X": "1"}) == "a1b$c$d"
    with pytest.raises(ConfigError, match=r"^f: g: environment variable Y is not set"):
        expand_env("${Y}", where="f: g", environ={})
    with pytest.raises(ConfigError, match="malformed variable reference"):
        expand_env("${unclosed", where="f: g", environ={})


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert topology_path_from_env({}) is None
    monkeypatch.setenv("LMSDB_TOPOLOGY", "shards/from-env.toml")
    assert topology_path_from_env() == Path("shards/from-env.toml")
    assert resolve_settings().topology_path == Path("shards/from-env.toml")
    flag = resolve_settings(Path("shards/flag.toml"), connect_timeout=2)
    assert flag == Settings(topology_path=Path("shards/flag.toml"), connect_timeout=2)
    assert resolve_settings(environ={}).connect_timeout == DEFAULT_CONNECT_TIMEOUT
    with pytest.raises(ConfigError, match="pass --topology"):
        require_topology_path(resolve_settings(environ={}))
