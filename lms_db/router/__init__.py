"""Routing keys to shards: the :class:`Router`, its engine pool and the keyspace lookups.

Example::

    from lms_db.router import Router
    from lms_db.topology.spec import load_topology

    with Router.from_topology(load_topology("shards/local-mariadb.toml")) as router:
        route = router.shard_for("user", 1_234_567)      # ShardRoute(shard='shard-1', ...)
        with router.engine_for("user", 1_234_567).begin() as conn:
            ...
"""

from __future__ import annotations

from lms_db.router.keys import check_keyspace, parse_key
from lms_db.router.pool import EnginePool, ShardLocation
from lms_db.router.router import (
    DEFAULT_MAX_STALENESS,
    DEFAULT_PARALLEL,
    Router,
    ShardRoute,
)

__all__ = [
    "DEFAULT_MAX_STALENESS",
    "DEFAULT_PARALLEL",
    "EnginePool",
    "Router",
    "ShardLocation",
    "ShardRoute",
    "check_keyspace",
    "parse_key",
]
