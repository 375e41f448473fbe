"""The commented topology file ``lmsdb init`` writes.

The template works as written (three SQLite shards next to the file), and its comments show
how to point it at MariaDB/MySQL servers with replicas and passwords from the environment.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lms_db.errors import ConfigError

log = logging.getLogger(__name__)

TOPOLOGY_TEMPLATE = """\
# lmsdb shard topology.
#
# Lists the catalog database, the optional analytics database and every shard's primary,
# replicas and initial key ranges.  As written it uses three SQLite files beside this file
# (relative SQLite paths resolve against this file's directory).
#
# URLs: driver://user:${LMS_DB_PASSWORD}@host:port/database
#   drivers: mysql+pymysql, mariadb+pymysql, postgresql+psycopg, sqlite
#   Secrets never go in this file: write ${NAME} where a password belongs and export NAME
#   before running lmsdb, or ${file:/path/to/secret} to read it from a file.  lmsdb refuses a
#   URL holding a literal password.  $$ is a literal $.
#
# Use it:  export LMSDB_TOPOLOGY=<this file>  (or pass --topology <this file>)

# The catalog holds the live shard map, the id windows and the journal of operations.
[catalog]
url = "sqlite:///./local/catalog.db"
# url = "mysql+pymysql://lms:${LMS_DB_PASSWORD}@catalog.db.internal:3306/lmsdb_catalog"

# Optional: PostgreSQL (TimescaleDB when the extension exists) for user_events.
# [analytics]
# url = "postgresql+psycopg://lms:${LMS_ANALYTICS_PASSWORD}@analytics.db.internal:5432/lms_analytics"

# One [[shards]] table per shard.
#   name      unique; letters, digits, '.', '_' or '-'
#   primary   the database every write goes to
#   replicas  read-only copies: lmsdb reads from them and waits for them, never writes them
#   ranges    { keyspace = [lo, hi] } meaning lo <= key < hi, for keyspaces
#             user (by user_id) and course (by course_id).  Per keyspace the ranges of all
#             shards start at 0 and follow each other with no gap and no overlap.  A shard
#             may have none.  They only seed the catalog the first time; after that the
#             catalog is the truth (range moves will change it there).

[[shards]]
name = "shard-0"
primary = "sqlite:///./local/shard-0.db"
# primary = "mysql+pymysql://lms:${LMS_DB_PASSWORD}@shard0-primary.db.internal:3306/lms"
replicas = []
# replicas = ["mysql+pymysql://lms:${LMS_DB_PASSWORD}@shard0-replica.db.internal:3306/lms"]
ranges = { user = [0, 1000000], course = [0, 10000] }

[[shards]]
name = "shard-1"
primary = "sqlite:///./local/shard-1.db"
replicas = []
ranges = { user = [1000000, 2000000], course = [10000, 20000] }

[[shards]]
name = "shard-2"
primary = "sqlite:///./local/shard-2.db"
replicas = []
ranges = { user = [2000000, 3000000], course = [20000, 30000] }
"""


def write_topology_template(path: str | Path, *, force: bool = False) -> Path:
    """Write :data:`TOPOLOGY_TEMPLATE` to ``path``, creating its directory.

    :param path: where to write the topology file.
    :param force: overwrite an existing file.
    :returns: the path written.
    :raises ConfigError: the file exists and ``force`` is false, or it cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give a file name such as {path}/dev.toml")
    if path.exists() and not force:
        raise ConfigError(f"{path}: already exists; pass --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TOPOLOGY_TEMPLATE, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror}") from exc
    log.info("wrote topology template %s", path)
    return path
