"""Databases named by a URL on the command line (``--url``) rather than a topology file.

The URL follows the one rule of :mod:`lms_db.urls` (passwords only as ``${VAR}`` or
``${file:PATH}``); the result is a :class:`~lms_db.urls.DatabaseRef`, so engines and
connection checks are the same as for topology databases (:mod:`lms_db.engines`).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from lms_db.engines import connect_check, engine_for
from lms_db.urls import DatabaseRef, parse_database_url


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


def create_engine_checked(url_text: str, *, field: str = "--url",
                          timeout: float | None = None) -> Engine:
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
