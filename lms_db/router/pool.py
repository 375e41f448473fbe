"""Engines pooled per database URL, and where each shard's databases are.

A Router opens at most one engine per database URL, however many shards, keyspaces or
threads ask for it, and disposes of all of them in :meth:`EnginePool.close`.  Shards listed
in the topology file are found there; a shard added later with ``lmsdb shard add`` is found
in the catalog (its URL templates, expanded from the environment).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.catalog import shards as catalog_shards
from lms_db.catalog.identity import check_locations
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import ConfigError
from lms_db.topology.engines import engine_for
from lms_db.topology.spec import Topology
from lms_db.topology.urls import DatabaseRef, parse_database_url

log = logging.getLogger(__name__)

#: The journal operation that records a ``lmsdb shard add``.
SHARD_ADD_OPERATION = "shard-add"
#: The catalog state of a shard unregistered by ``lmsdb shard remove``.
REMOVED_SHARD_STATE = "removed"


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


def catalog_ref(
    template: str, *, field: str, environ: Mapping[str, str] | None = None, fix: str | None = None
) -> DatabaseRef:
    """A database URL stored in the catalog (``${VAR}`` kept there), ready to connect.

    :param template: the URL as stored (never holds a secret).
    :param field: where it came from, for messages.
    :param environ: variables to expand with instead of the process environment.
    :param fix: the command that replaces it, for messages.
    :raises ConfigError: a variable is not set, the URL is not usable, or it holds no
        usable password (one stored in clear by an older lmsdb was removed).
    """
    return parse_database_url(template, field=field, environ=environ, stored=True, fix=fix)


def read_locations(
    conn: Connection, topology: Topology, *, unchecked: Collection[str] = ()
) -> dict[str, ShardLocation]:
    """Every shard the topology or the catalog knows, by name (topology first).

    The topology's primaries are checked against where the catalog recorded them first
    (:func:`~lms_db.catalog.identity.check_locations`).

    :param conn: a connection to the catalog (at :data:`CATALOG_SCHEMA_VERSION`).
    :param topology: the loaded topology.
    :param unchecked: shards whose location is not compared, and left out when their stored
        URL is unusable (``lmsdb shard set``/``remove`` is fixing them).
    :raises TopologyMismatch: the topology points a recorded shard at another database.
    :raises ConfigError: a catalog-only shard's URL cannot be expanded.
    """
    check_locations(
        conn, [(spec.name, spec.primary) for spec in topology.shards if spec.name not in unchecked]
    )
    found = {
        spec.name: ShardLocation(spec.name, spec.primary, spec.replicas, "topology")
        for spec in topology.shards
    }
    rows = conn.execute(
        sa.select(
            catalog_shards.c.name,
            catalog_shards.c.primary_url_template,
            catalog_shards.c.replica_url_templates,
        )
        .where(catalog_shards.c.state != REMOVED_SHARD_STATE)
        .order_by(catalog_shards.c.name)
    ).all()
    for name, template, replica_templates in rows:
        if name in found:
            continue
        where = f"catalog shards.{name}"
        try:
            primary = catalog_ref(
                template, field=f"{where}.primary", fix=f"lmsdb shard set {name} --primary URL"
            )
            replicas = tuple(
                catalog_ref(
                    t,
                    field=f"{where}.replicas[{i}]",
                    fix=f"lmsdb shard set {name} --replica URL (or --no-replicas)",
                )
                for i, t in enumerate(stored_replicas(replica_templates))
            )
        except ConfigError:
            if name in unchecked:
                continue  # the URL `lmsdb shard set` is about to replace
            raise
        found[name] = ShardLocation(name, primary, replicas, "catalog")
    return found


def stored_replicas(value: str | None) -> list[str]:
    """The replica URL templates of a catalog ``shards`` row (JSON list; NULL: none).

    :param value: the ``replica_url_templates`` column.
    """
    if not value:
        return []
    try:
        loaded = json.loads(value)
    except ValueError:
        return []
    return [str(r) for r in loaded] if isinstance(loaded, list) else []
