"""``--dev-url``: let a real server judge the DDL, in a scratch database it drops after.

Like Atlas's dev database or Skeema's workspace: the statements of the files are applied,
in order, to a database created for the run (a unique ``lmsdb_lint_<hex>`` name, or the
URL's database when it does not exist yet); every error the server raises becomes a
finding at the statement's ``file:line``; the database is dropped whatever happens
(errors, Ctrl-C).  Statements that would reach outside it (``USE``, ``CREATE DATABASE``,
another database's tables, users, grants, global settings) are not sent: they are
reported instead.  MySQL/MariaDB and PostgreSQL URLs are understood.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.errors import ConnectionFailed, InputError, OperationError
from lms_db.lint.findings import Finding, finding
from lms_db.lint.sources import collect_files, mask, read_chunks, split_statements

log = logging.getLogger(__name__)

_MYSQL_DRIVERS = ("mysql", "mariadb")
_PG_DRIVERS = ("postgresql", "postgres")
#: Statements that act beyond the scratch database.
_OUTSIDE = re.compile(
    r"^\s*(?:USE\b|(?:CREATE|DROP|ALTER)\s+(?:DATABASE|SCHEMA)\b|GRANT\b|REVOKE\b"
    r"|(?:CREATE|DROP|ALTER|RENAME)\s+(?:USER|ROLE)\b|SET\s+(?:GLOBAL|PERSIST|PERSIST_ONLY)\b"
    r"|SET\s+@@(?:GLOBAL|PERSIST)\.|INSTALL\b|UNINSTALL\b|SHUTDOWN\b|KILL\b|FLUSH\b|PURGE\b"
    r"|RESET\b|CHANGE\s+(?:MASTER|REPLICATION)\b|START\s+(?:SLAVE|REPLICA)\b|STOP\s+(?:SLAVE|REPLICA)\b"
    r"|LOAD\s+DATA\b|SELECT\b.*\bINTO\s+(?:OUT|DUMP)FILE\b|\\c(?:onnect)?\b|ALTER\s+SYSTEM\b"
    r"|(?:CREATE|ALTER|DROP)\s+(?:SERVER|TABLESPACE|LOGFILE|RESOURCE\s+GROUP|EXTENSION)\b"
    r"|ALTER\s+INSTANCE\b|(?:UN)?LOCK\s+INSTANCE\b|CLONE\b|RESTART\b|BINLOG\b)",
    re.I | re.S,
)
_DB = r"`?([A-Za-z_$][\w$]*)`?\s*\.\s*`?[A-Za-z_$]"
#: ``db.object`` where a statement creates, changes or writes an object (MySQL: db is
#: a database).  Reads (``FROM db.t`` in a view) leave other databases alone.
_QUALIFIED = re.compile(
    r"\b(?:INSERT\s+(?:IGNORE\s+)?INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM|REFERENCES|CALL"
    r"|TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?|VIEW|PROCEDURE|FUNCTION|TRIGGER|EVENT)\s+" + _DB,
    re.I,
)
_ANY_QUALIFIER = re.compile(r"(?<![\w$.`])`?([A-Za-z_$][\w$]*)`?\s*\.\s*[`A-Za-z_$*]")
_ON_TABLE = re.compile(r"^\s*CREATE\b[^;]*?\b(?:INDEX|TRIGGER)\b[^;]*?\bON\s+" + _DB, re.I | re.S)


class _Connection(Protocol):
    def run(self, sql: str) -> None: ...

    def exists(self, name: str) -> bool: ...

    def databases(self) -> list[str]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Server:
    """Where the scratch database lives: the URL as given and its kind."""

    url: URL
    kind: str  # "mysql" or "postgresql"

    @property
    def shown(self) -> str:
        return self.url.render_as_string(hide_password=True)


def verify_on_server(paths: Iterable[Path], dev_url: str) -> list[Finding]:
    """Apply the statements of ``paths`` to a scratch database on ``dev_url``'s server.

    :returns: one ``LMS901`` error per statement the server refused, one ``LMS902``
        warning per statement not sent because it would leave the scratch database.
    :raises InputError: a bad path or URL, or a URL naming a database that exists.
    :raises ConnectionFailed: the server cannot be reached or refuses the login.
    :raises OperationError: the scratch database could not be dropped at the end.
    """
    files = collect_files(list(paths))
    chunks = [chunk for path in files for chunk in read_chunks(path)]
    server = _server(dev_url)
    findings: list[Finding] = []
    with _scratch_database(server) as (name, conn, others):
        for chunk in chunks:
            for raw in split_statements(chunk, postgres=server.kind == "postgresql"):
                location = f"{chunk.path}:{raw.line}"
                outside = _outside(raw.text, name, server.kind, others)
                if outside:
                    findings.append(finding("LMS902", "", outside, location))
                    continue
                try:
                    conn.run(raw.text)
                except Exception as exc:  # the server's verdict, whatever the driver calls it
                    findings.append(finding("LMS901", "", _server_error(exc, server), location))
    return findings


def _server(dev_url: str) -> _Server:
    try:
        url = sa.engine.make_url(dev_url)
    except Exception as exc:  # ArgumentError, ValueError: not a URL
        raise InputError(
            "--dev-url is not a database URL (mysql+pymysql://user@host:3306/ or "
            "postgresql+psycopg://user@host:5432/)"
        ) from exc
    backend = url.get_backend_name()
    if backend in _MYSQL_DRIVERS:
        return _Server(url.set(drivername="mysql+pymysql"), "mysql")
    if backend in _PG_DRIVERS:
        return _Server(url.set(drivername="postgresql+psycopg"), "postgresql")
    raise InputError(
        f"--dev-url {url.render_as_string(hide_password=True)}: only MySQL/MariaDB and "
        "PostgreSQL servers can be a dev database"
    )


@contextmanager
def _scratch_database(server: _Server) -> Iterator[tuple[str, _Connection, frozenset[str]]]:
    """Create the scratch database, yield a connection to it and the names of the
    server's other databases, drop it (always)."""
    wanted = server.url.database
    if wanted and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", wanted):
        raise InputError(
            f"--dev-url database {wanted!r}: use letters, digits and _ only (lint creates it)"
        )
    name = wanted or f"lmsdb_lint_{uuid.uuid4().hex[:12]}"
    admin = _connect(server, "postgres" if server.kind == "postgresql" else None)
    try:
        if wanted and admin.exists(wanted):
            raise InputError(
                f"--dev-url names database {wanted!r}, which exists on "
                f"{server.shown}; "
                "lint only uses a database it creates: name a new one or none"
            )
        try:
            others = frozenset(admin.databases())
            admin.run(_create_sql(server, name))
        except Exception as exc:  # no privilege, a name the server refuses...
            raise ConnectionFailed(
                f"cannot create a scratch database {name!r} on {server.shown}: "
                f"{_one_line(str(exc), server.url.password)}"
            ) from exc
        log.info("lint: scratch database %s on %s", name, server.shown)
        conn: _Connection | None = None
        try:
            conn = _connect(server, name)
            yield name, conn, others
        finally:
            if conn is not None:
                conn.close()
            _drop(admin, server, name)
    finally:
        admin.close()


def _drop(admin: _Connection, server: _Server, name: str) -> None:
    try:
        admin.run(_drop_sql(server, name))
    except Exception as exc:  # the server went away: say what is left behind
        raise OperationError(
            f"could not drop the scratch database {name!r} on {server.shown}: "
            f"{_one_line(str(exc), server.url.password)}; drop it by hand"
        ) from exc
    log.info("lint: dropped scratch database %s", name)


def _create_sql(server: _Server, name: str) -> str:
    if server.kind == "postgresql":
        return f'CREATE DATABASE "{name}"'
    return f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"


def _drop_sql(server: _Server, name: str) -> str:
    if server.kind == "postgresql":
        return f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    return f"DROP DATABASE IF EXISTS `{name}`"


def _connect(server: _Server, database: str | None) -> _Connection:
    url = server.url
    try:
        if server.kind == "postgresql":
            return _PgConnection(url, database or "postgres")
        return _MysqlConnection(url, database)
    except Exception as exc:
        raise ConnectionFailed(
            f"cannot connect to the dev database server {server.shown}: "
            f"{_one_line(str(exc), url.password)}"
        ) from exc


class _MysqlConnection:
    def __init__(self, url: URL, database: str | None) -> None:
        import pymysql

        self._conn = pymysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=str(url.password or ""),
            database=database,
            autocommit=True,
            connect_timeout=10,
            charset="utf8mb4",
        )

    def run(self, sql: str) -> None:
        with self._conn.cursor() as cur:
            cur.execute(sql)
            while cur.nextset():
                pass

    def exists(self, name: str) -> bool:
        with self._conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
            return cur.fetchone() is not None

    def databases(self) -> list[str]:
        with self._conn.cursor() as cur:
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
            return [str(row[0]).lower() for row in cur.fetchall()]

    def close(self) -> None:
        self._conn.close()


class _PgConnection:
    def __init__(self, url: URL, database: str) -> None:
        import psycopg

        params: dict[str, Any] = {
            "host": url.host or "127.0.0.1",
            "port": url.port or 5432,
            "user": url.username or "postgres",
            "dbname": database,
            "autocommit": True,
            "connect_timeout": 10,
        }
        if url.password is not None:
            params["password"] = str(url.password)
        self._conn = psycopg.connect(**params)

    def run(self, sql: str) -> None:
        self._conn.execute(sql.encode(), prepare=False)

    def exists(self, name: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None

    def databases(self) -> list[str]:
        return []  # a PostgreSQL session cannot reach another database's objects

    def close(self) -> None:
        self._conn.close()


def _outside(text: str, scratch: str, kind: str, others: frozenset[str]) -> str:
    """Why the statement is not sent ('' when it stays inside the scratch database).

    MySQL: any ``db.x`` naming another database of the server (even an alias that
    happens to share a database's name: better unsent than sent to the wrong place),
    and ``db.x`` where an object is created or written.
    """
    masked = mask(text, postgres=kind == "postgresql")
    head = " ".join(masked.split())[:60]
    if _OUTSIDE.match(masked):
        return f"not applied: {head!r} acts beyond the scratch database"
    if kind == "mysql":
        for match in _ANY_QUALIFIER.finditer(masked):
            other = text[match.start(1) : match.end(1)].lower()
            if other in others and other != scratch.lower():
                return f"not applied: {head!r} names database {other}"
        matches = list(_QUALIFIED.finditer(masked)) + list(_ON_TABLE.finditer(masked))
        for match in matches:
            other = text[match.start(1) : match.end(1)]
            if other.lower() != scratch.lower():
                return f"not applied: {head!r} names database {other}"
    return ""


def _server_error(exc: Exception, server: _Server) -> str:
    args: tuple[object, ...] = tuple(getattr(exc, "args", ()))
    if server.kind == "mysql" and len(args) >= 2 and isinstance(args[0], int):
        return f"{_label(server)} refused it: error {args[0]}: {args[1]}"
    diag = getattr(exc, "sqlstate", None)
    text = _one_line(str(exc), server.url.password)
    return f"{_label(server)} refused it: {text}" + (f" (SQLSTATE {diag})" if diag else "")


def _label(server: _Server) -> str:
    return "PostgreSQL" if server.kind == "postgresql" else "the MySQL/MariaDB server"


def _one_line(text: str, password: object) -> str:
    line = " ".join(text.split()) or "no detail"
    if password:
        line = line.replace(str(password), "***")
    return line
