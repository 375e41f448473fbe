"""After every CLI command a test runs: no password in the output, none in the catalog.

``tests/conftest.py`` wraps ``CliRunner.invoke`` (an autouse fixture), so every command of
the suite that names a topology is followed by a scan of every table of that topology's
catalog for :data:`PLANTED_PASSWORD` and for the value of every ``*PASSWORD*``/``*SECRET*``
variable the test passed.  Tests that plant a password use a real MariaDB user created with
it (:func:`tests.backend.router_helpers` style fixtures), so the password is really needed
and really used.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

#: A password tests plant (MariaDB user, environment variable, password file).
PLANTED_PASSWORD = "Pl4nted-S3cret-9f3"


def secrets_of(env: Mapping[str, str | None] | None) -> set[str]:
    """The planted password plus every secret-looking variable's value of ``env``."""
    found = {PLANTED_PASSWORD}
    for source in (env or {}, os.environ):
        for key, value in source.items():
            if value and len(value) >= 6 and any(w in key.upper() for w in ("PASSWORD", "SECRET")):
                found.add(value)
    return found


def topology_of(args: Sequence[str], env: Mapping[str, str | None] | None) -> Path | None:
    """The topology file a command line names (``--topology``/``-t`` or LMSDB_TOPOLOGY)."""
    for i, arg in enumerate(args[:-1]):
        if arg in ("--topology", "-t"):
            return Path(args[i + 1])
    for arg in args:
        if arg.startswith("--topology="):
            return Path(arg.split("=", 1)[1])
    named = (env or {}).get("LMSDB_TOPOLOGY") or os.environ.get("LMSDB_TOPOLOGY")
    return Path(named) if named else None


def catalog_rows(url: sa.URL) -> Iterable[tuple[str, str]]:
    """``(table, text of one row)`` for every row of every table of the catalog."""
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return []
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    out: list[tuple[str, str]] = []
    try:
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
                for row in conn.execute(sa.select(reflected)):
                    out.append((table, " ".join(str(v) for v in row)))
    except sa.exc.DBAPIError:
        return []  # an unreachable or half-created catalog holds nothing to scan
    finally:
        engine.dispose()
    return out


def assert_no_secret_leaked(
    args: Sequence[str], env: Mapping[str, str | None] | None, result: Any
) -> None:
    """Fail when a planted password is in the command's output or anywhere in its catalog."""
    from lms_db.errors import LmsDbError
    from lms_db.topology.spec import load_topology

    secrets = secrets_of(env)
    output = (result.stdout or "") + (getattr(result, "stderr", "") or "")
    for secret in secrets:
        assert secret not in output, f"a password was printed by lmsdb {' '.join(args)}"
    path = topology_of([str(a) for a in args], env)
    if path is None or not path.exists():
        return
    environ = {**os.environ, **{k: v for k, v in (env or {}).items() if v is not None}}
    try:
        topology = load_topology(path, environ=environ)
    except LmsDbError:
        return
    for table, text in catalog_rows(topology.catalog.url):
        for secret in secrets:
            assert secret not in text, (
                f"catalog table {table} holds a password after lmsdb {' '.join(args)}"
            )
