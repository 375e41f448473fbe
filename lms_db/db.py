"""Engines from URLs, with the checks that turn driver errors into one clear line."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from lms_db.errors import ConnectionFailed, InputError

SUPPORTED_DRIVERS = ("mysql+pymysql", "mariadb+pymysql", "postgresql+psycopg", "sqlite")
CONNECT_TIMEOUT_SECONDS = 5


def masked(url: URL | str) -> str:
    """The URL as text with its password replaced by ``***``."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return "<unparsable URL>"
    return parsed.render_as_string(hide_password=True)


def parse_url(url: URL | str) -> URL:
    """Parse and check a database URL.

    :raises InputError: unparsable URL or a driver lmsdb does not support.
    """
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise InputError(f"bad database URL {masked(url)!s}: expected "
                         "driver://user@host:port/database") from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise InputError(f"unsupported driver {parsed.drivername!r} in {masked(parsed)}: use "
                         f"one of {', '.join(SUPPORTED_DRIVERS)}")
    return parsed


def connect_args(url: URL) -> dict[str, object]:
    """Driver options that make an unreachable server fail fast."""
    if url.drivername.endswith("pymysql"):
        return {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    if url.drivername.startswith("postgresql"):
        return {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return {}


def make_engine(url: URL | str, **kwargs: object) -> Engine:
    """An engine for ``url`` (not yet connected).

    :raises InputError: bad URL.
    """
    parsed = parse_url(url)
    return sa.create_engine(parsed, connect_args=connect_args(parsed), **kwargs)  # type: ignore[arg-type]


def check_connection(engine: Engine) -> None:
    """Open one connection and run ``SELECT 1``.

    :raises ConnectionFailed: unreachable server or refused credentials (password masked).
    """
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        password = engine.url.password
        if password:
            reason = reason.replace(str(password), "***")
        raise ConnectionFailed(f"cannot connect to {masked(engine.url)}: {reason}") from None


def create_engine_checked(url: URL | str, **kwargs: object) -> Engine:
    """:func:`make_engine` then :func:`check_connection`."""
    engine = make_engine(url, **kwargs)
    try:
        check_connection(engine)
    except ConnectionFailed:
        engine.dispose()
        raise
    return engine
