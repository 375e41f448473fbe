"""Every database URL lmsdb reads, parsed under one rule.

Topology files, command-line flags (``--url``, ``shard add --primary/--replica``,
``shard set``: :func:`database_ref`) and the URLs stored in the catalog all go through
:func:`parse_database_url`.

**The password rule.**  A URL never holds a password in clear.  Write the password as

- ``${VAR}``: the value of the environment variable ``VAR``, or
- ``${file:/path/to/secret}``: the contents of a file you name (one trailing newline is
  dropped), e.g. a Kubernetes or Docker secret mounted as a file.

Anything else in the password (or in a ``password=``/``passwd=`` query option) is refused,
with one line saying how to write it instead.  The text as written (references kept) is the
only form lmsdb stores (catalog, journal); the expanded URL lives in memory only and is
printed masked (``***``) everywhere: :attr:`DatabaseRef.display`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

from lms_db.config import expand_env, is_env_reference
from lms_db.errors import ConfigError, LiteralPassword
from lms_db.topology.engines import connect_check, engine_for

log = logging.getLogger(__name__)

#: SQLAlchemy drivers lmsdb is tested with.
SUPPORTED_DRIVERS = ("mysql+pymysql", "mariadb+pymysql", "postgresql+psycopg", "sqlite")
#: Query options that carry a password (the driver reads them like the URL's password).
SECRET_QUERY_KEYS = ("password", "passwd")
#: How to pass a password: the end of every "literal password" message.
PASSWORD_HELP = (
    "put the password in an environment variable and write ${VAR} in its "
    "place (e.g. 'mysql+pymysql://lms:${LMS_DB_PASSWORD}@host:3306/lms'), or "
    "write ${file:/path/to/secret} to read it from a file"
)
#: What an upgraded catalog holds where an older lmsdb had stored a password in clear.
REMOVED_PASSWORD = "***"

_DRIVER_HINTS = {
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
    "sqlite+pysqlite": "sqlite",
}
_DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}


@dataclass(frozen=True)
class DatabaseRef:
    """One database lmsdb connects to.

    :param url: the URL to connect with, secrets expanded (in memory only).
    :param template: the URL as written (``${VAR}`` kept, never the secret): what is stored.
    :param field: where it was written (``shards[1].primary``, ``--primary``).
    """

    url: URL
    template: str
    field: str = ""

    @property
    def display(self) -> str:
        """The URL with every secret masked as ``***``: the only form ever printed."""
        return mask_url(self.url)

    @property
    def dialect(self) -> str:
        """The backend name: ``mysql``, ``mariadb``, ``postgresql`` or ``sqlite``."""
        return self.url.get_backend_name()

    @property
    def location(self) -> tuple[object, ...]:
        """Which database this is, whatever the credentials (see :func:`location_key`)."""
        return location_key(self.url)

    def __repr__(self) -> str:
        return f"DatabaseRef({self.display!r})"

    def __str__(self) -> str:
        return self.display


def mask_url(url: URL) -> str:
    """``url`` as text with its password and password query options shown as ``***``.

    :param url: any SQLAlchemy URL.
    """
    secret_keys = [k for k in url.query if k.lower() in SECRET_QUERY_KEYS]
    if not secret_keys:
        return url.render_as_string(hide_password=True)
    url = url.update_query_dict({k: "MASKED" for k in secret_keys})
    return url.render_as_string(hide_password=True).replace("=MASKED", "=***")


def location_key(url: URL) -> tuple[object, ...]:
    """``(backend, host, port, database)``: the same for two URLs naming one database.

    MariaDB and MySQL count as one backend, default ports are filled in, the host is
    lower-cased and SQLite paths are made absolute.

    :param url: an expanded URL.
    """
    backend = url.get_backend_name()
    backend = "mysql" if backend == "mariadb" else backend
    database = url.database
    if backend == "sqlite" and database and not _is_memory_or_uri(database):
        database = str(Path(database).resolve())
    host = (url.host or "").lower() or None
    port = url.port or (_DEFAULT_PORTS.get(backend) if host else None)
    return backend, host, port, database


def show_location(key: tuple[object, ...]) -> str:
    """A :func:`location_key` as short text for messages (no credentials in it)."""
    backend, host, port, database = key
    if backend == "sqlite":
        return f"sqlite:///{database}"
    return f"{backend}://{host}:{port}/{database}"


def parse_database_url(
    text: object,
    *,
    field: str,
    where: str | None = None,
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    stored: bool = False,
    fix: str | None = None,
) -> DatabaseRef:
    """Parse and check one database URL, then expand its ``${...}`` references.

    :param text: the URL as written.
    :param field: the short name of where it came from, kept on the result.
    :param where: the start of every error message (default: ``field``), e.g.
        ``"shards/prod.toml: shards[1].primary"``.
    :param base_dir: the directory a relative SQLite path is relative to (the topology
        file's for a topology, the working directory for a flag); the stored template
        is made absolute so every process finds the same file.
    :param environ: variables to expand with instead of the process environment.
    :param stored: the URL was read back from the catalog (changes the literal-password
        message: the fix is ``lmsdb shard set``).
    :param fix: the command that replaces a stored URL, for that message.
    :raises LiteralPassword: the URL holds a password in clear (an :class:`InputError`).
    :raises ConfigError: not a URL, unsupported driver, no host or database, or a
        reference that cannot be expanded.  Messages never show a secret.
    """
    where = where or field
    if not isinstance(text, str):
        raise ConfigError(f"{where}: must be a URL string")
    try:
        template = make_url(text)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{where}: not a valid database URL; expected driver://user:${{VAR}}@host:port/database"
        ) from None
    driver = template.drivername
    if driver not in SUPPORTED_DRIVERS:
        hint = f"; did you mean {_DRIVER_HINTS[driver]}?" if driver in _DRIVER_HINTS else ""
        raise ConfigError(
            f"{where}: unknown driver {driver!r}{hint} (supported: {', '.join(SUPPORTED_DRIVERS)})"
        )
    _check_no_literal_password(template, where, stored=stored, fix=fix)
    if driver != "sqlite" and not template.host:
        raise ConfigError(f"{where}: the URL names no host")
    if driver != "sqlite" and not template.database:
        raise ConfigError(f"{where}: the URL names no database")
    url = _expand(template, where, environ)
    stored_text = text
    if driver == "sqlite" and base_dir is not None and url.database and _is_relative(url.database):
        url = url.set(database=str((base_dir / url.database).resolve()))
        if template.database and not template.database.startswith("$"):
            stored_text = template.set(database=url.database).render_as_string(hide_password=False)
    return DatabaseRef(url=url, template=stored_text, field=field)


def _check_no_literal_password(
    template: URL, where: str, *, stored: bool, fix: str | None = None
) -> None:
    secrets = [template.password] + [
        v for k, v in template.query.items() if k.lower() in SECRET_QUERY_KEYS
    ]
    for secret in secrets:
        values = secret if isinstance(secret, tuple) else (secret,)
        for value in values:
            if not isinstance(value, str) or not value or is_env_reference(value):
                continue
            if stored:
                raise LiteralPassword(
                    f"{where}: the stored URL has no usable password (an older lmsdb kept "
                    "one in clear; it was removed): give the URL again with "
                    f"`{fix or 'lmsdb shard set NAME --primary URL'}`, and " + PASSWORD_HELP
                )
            raise LiteralPassword(f"{where}: the URL holds a literal password; " + PASSWORD_HELP)


def _expand(template: URL, where: str, environ: Mapping[str, str] | None) -> URL:
    """Expand ``${...}`` inside each part, so a secret needs no URL escaping."""

    def ex(value: str | None) -> str | None:
        if value is None:
            return None
        return expand_env(value, where=where, environ=environ)

    query = {
        k: tuple(ex(x) or "" for x in v) if isinstance(v, tuple) else ex(v) or ""
        for k, v in template.query.items()
    }
    return template.set(
        username=ex(template.username),
        password=ex(template.password),
        host=ex(template.host),
        database=ex(template.database),
        query=query,
    )


def _is_memory_or_uri(database: str) -> bool:
    return database == ":memory:" or database.startswith("file:")


def _is_relative(database: str) -> bool:
    return not _is_memory_or_uri(database) and not Path(database).is_absolute()


def database_ref(url_text: str, *, field: str = "--url") -> DatabaseRef:
    """Parse a URL given on the command line.

    A relative SQLite path is relative to the working directory; the stored template is
    made absolute.

    :param url_text: ``driver://user:${VAR}@host:port/database``.
    :param field: the option it came from, for messages.
    :raises LiteralPassword: the URL holds a password in clear (exit 2).
    :raises ConfigError: unparsable URL, unsupported driver or missing variable.
    """
    return parse_database_url(url_text, field=field, base_dir=Path.cwd())


def create_engine_checked(
    url_text: str, *, field: str = "--url", timeout: float | None = None
) -> Engine:
    """An engine for a command-line URL, after checking the server answers.

    :param timeout: seconds to wait for the server (default: the engines' default).
    :raises InputError: bad URL.
    :raises ConnectionFailed: unreachable server or refused credentials.
    """
    ref = database_ref(url_text, field=field)
    if timeout is None:
        connect_check(ref)
        return engine_for(ref)
    connect_check(ref, timeout)
    return engine_for(ref, timeout=timeout)
