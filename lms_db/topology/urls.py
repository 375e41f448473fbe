"""Databases named by a URL on the command line (``--url``) rather than a topology file.

The URL may hold ``${VAR}`` references (a password, say), expanded from the environment;
the result becomes a :class:`~lms_db.topology.spec.DatabaseRef`, so engines and connection
checks are the same as for topology databases (:mod:`lms_db.topology.engines`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lms_db.config import expand_env
from lms_db.errors import InputError
from lms_db.topology.engines import connect_check, engine_for
from lms_db.topology.spec import SUPPORTED_DRIVERS, DatabaseRef


def database_ref(url_text: str, *, field: str = "--url") -> DatabaseRef:
    """Parse a URL given on the command line.

    :param url_text: ``driver://user:${VAR}@host:port/database``.
    :param field: the option it came from, for messages.
    :raises InputError: unparsable URL, unsupported driver or missing variable.
    """
    expanded = expand_env(url_text, where=field)
    try:
        url = sa.engine.make_url(expanded)
    except sa.exc.ArgumentError:
        raise InputError(f"{field}: bad database URL: expected "
                         "driver://user@host:port/database") from None
    if url.drivername not in SUPPORTED_DRIVERS:
        raise InputError(f"{field}: unsupported driver {url.drivername!r} "
                         f"(supported: {', '.join(SUPPORTED_DRIVERS)})")
    return DatabaseRef(url=url, template=url_text, field=field)


def create_engine_checked(url_text: str, *, field: str = "--url") -> Engine:
    """An engine for a command-line URL, after checking the server answers.

    :raises InputError: bad URL.
    :raises ConnectionFailed: unreachable server or refused credentials.
    """
    ref = database_ref(url_text, field=field)
    connect_check(ref)
    return engine_for(ref)
