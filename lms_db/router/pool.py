"""Engines pooled per database URL, and where each shard's databases are.

A Router opens at most one engine per database URL, however many shards, keyspaces or
threads ask for it, and disposes of all of them in :meth:`EnginePool.close`.  Shards listed
in the topology file are found there; a shard added later with ``lmsdb shard add`` is found
in the catalog (its URL template, expanded from the environment, and the replicas recorded
in the journal entry of the add).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.catalog import journal
from lms_db.catalog import shards as catalog_shards
from lms_db.config import DEFAULT_CONNECT_TIMEOUT, expand_env
from lms_db.errors import ConfigError
from lms_db.topology.engines import engine_for
from lms_db.topology.spec import SUPPORTED_DRIVERS, DatabaseRef, Topology

log = logging.getLogger(__name__)

#: The journal operation that records a ``lmsdb shard add``.
SHARD_ADD_OPERATION = "shard-add"


@dataclass(frozen=True)
class ShardLocation:
    """Where one shard's databases are.

    :param name: the shard's name.
    :param primary: the database every write goes to.
    :param replicas: read-only copies (reads may go there).
    :param source: ``topology`` or ``catalog``: where the URLs came from.
    """

    name: str
    primary: DatabaseRef
    replicas: tuple[DatabaseRef, ...] = ()
    source: str = "topology"


class EnginePool:
    """One engine per database URL, created on first use, disposed by :meth:`close`.

    :param connect_timeout: seconds each new connection may take.
    """

    def __init__(self, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        self.connect_timeout = connect_timeout
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def get(self, ref: DatabaseRef) -> Engine:
        """The engine for ``ref``'s URL (the same object on every call).

        :param ref: a database of the topology or the catalog.
        """
        key = ref.url.render_as_string(hide_password=False)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = engine_for(ref, timeout=self.connect_timeout, pool_pre_ping=True)
                self._engines[key] = engine
            return engine

    def __len__(self) -> int:
        return len(self._engines)

    def close(self) -> None:
        """Dispose of every engine; later calls to :meth:`get` open new ones."""
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.dispose()


def catalog_ref(template: str, *, field: str, environ: Mapping[str, str] | None = None
                ) -> DatabaseRef:
    """A database URL stored in the catalog (``${VAR}`` kept there), ready to connect.

    :param template: the URL as stored (never holds a secret).
    :param field: where it came from, for messages.
    :param environ: variables to expand with instead of the process environment.
    :raises ConfigError: a variable is not set or the URL is not usable.
    """
    expanded = expand_env(template, where=field, environ=environ)
    try:
        url = sa.engine.make_url(expanded)
    except sa.exc.ArgumentError:
        raise ConfigError(f"{field}: the stored URL is not a database URL") from None
    if url.drivername not in SUPPORTED_DRIVERS:
        raise ConfigError(f"{field}: unsupported driver {url.drivername!r}")
    return DatabaseRef(url=url, template=template, field=field)


def read_locations(conn: Connection, topology: Topology) -> dict[str, ShardLocation]:
    """Every shard the topology or the catalog knows, by name (topology first).

    :param conn: a connection to the catalog.
    :param topology: the loaded topology.
    :raises ConfigError: a catalog-only shard's URL cannot be expanded.
    """
    found = {
        spec.name: ShardLocation(spec.name, spec.primary, spec.replicas, "topology")
        for spec in topology.shards
    }
    rows = conn.execute(
        sa.select(catalog_shards.c.name, catalog_shards.c.primary_url_template)
        .order_by(catalog_shards.c.name)
    ).all()
    for name, template in rows:
        if name in found:
            continue
        where = f"catalog shards.{name}"
        primary = catalog_ref(template, field=f"{where}.primary")
        replicas = tuple(
            catalog_ref(t, field=f"{where}.replicas[{i}]")
            for i, t in enumerate(_added_replicas(conn, name))
        )
        found[name] = ShardLocation(name, primary, replicas, "catalog")
    return found


def _added_replicas(conn: Connection, name: str) -> list[str]:
    """Replica URL templates recorded by the latest finished ``shard add`` of ``name``."""
    payload = conn.execute(
        sa.select(journal.c.payload)
        .where(journal.c.operation == SHARD_ADD_OPERATION, journal.c.shard == name,
               journal.c.state == "done")
        .order_by(journal.c.id.desc())
        .limit(1)
    ).scalar()
    if isinstance(payload, dict):
        return [str(r) for r in payload.get("replicas", [])]
    return []
