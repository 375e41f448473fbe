"""PyMySQL's "preferred TLS" context, built once per process instead of once per connection.

PyMySQL 1.2 tries TLS on every connection whose URL names no TLS option (the "preferred"
mode of the mysql client) and builds a new default SSL context for it each time, loading
the system's CA bundle: about 19 ms of CPU per connection, for a context that verifies
nothing (no CA given: ``CERT_NONE``, no host name check).  lmsdb opens many short-lived
connections (journal writes, preflight checks, each CLI command), so every PyMySQL
connection an lmsdb process opens gets that same context, built by PyMySQL itself the
first time.  Connections with TLS options of their own build theirs as before: nothing
about what is verified, or whether TLS is used, changes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa


@cache
def _connection_class() -> type:
    from pymysql.connections import Connection

    class PreferredTLSConnection(Connection):  # type: ignore[misc]
        """A PyMySQL connection that shares one preferred-mode SSL context."""

        _shared: Any = None

        def _create_ssl_ctx(self, sslp: Any) -> Any:
            if not (isinstance(sslp, dict) and not sslp):
                return super()._create_ssl_ctx(sslp)  # options of its own
            cls = type(self)
            if cls._shared is None:
                cls._shared = super()._create_ssl_ctx({})
            return cls._shared

    return PreferredTLSConnection


def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    if dialect.driver != "pymysql":
        return None  # SQLAlchemy connects as usual
    return _connection_class()(*cargs, **cparams)


def install() -> None:
    """Make every engine's PyMySQL connections share the context (idempotent)."""
    if not sa.event.contains(sa.engine.Engine, "do_connect", _connect):
        sa.event.listen(sa.engine.Engine, "do_connect", _connect)
