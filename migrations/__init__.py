"""lmsdb's Alembic environments; a wheel ships them as lms_db/migrations/ (see setup.py).

Each subdirectory is one Alembic script location with its own version history:

- ``oltp/``: the sharded LMS schema, run on every shard primary;
- ``analytics/``: ``user_events`` on the analytics database (PostgreSQL/TimescaleDB, SQLite).

The catalog database has its own small versioned schema, created and upgraded by
:func:`lms_db.catalog.ensure_catalog` rather than by Alembic.  lmsdb finds these directories
through :func:`lms_db.migrate.scripts.migrations_root`, from a checkout or an installed wheel.
"""

from __future__ import annotations

from pathlib import Path

#: Marks this package as lmsdb's migrations (not another distribution's ``migrations``).
LMSDB_MIGRATIONS = True
#: The directory holding the ``oltp`` and ``analytics`` script locations.
ROOT = Path(__file__).resolve().parent
