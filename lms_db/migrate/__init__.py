"""Fleet logic: migrations on every shard primary, replica catch-up and drift checks.

- :mod:`~lms_db.migrate.database`: Alembic on one database, locked, one revision per step
  (:func:`~lms_db.migrate.database.upgrade_database`);
- :mod:`~lms_db.fleet.locks`: per-database migration locks;
- :mod:`~lms_db.migrate.scripts`: the Alembic environments shipped in ``migrations/``;
- :mod:`~lms_db.migrate.schema_ops`: what the initial revisions run.
"""

from __future__ import annotations

from lms_db.migrate.database import (
    MigrationOutcome,
    StepEvent,
    downgrade_database,
    migrate_database,
    read_revision,
    upgrade_database,
)

__all__ = [
    "MigrationOutcome",
    "StepEvent",
    "downgrade_database",
    "migrate_database",
    "read_revision",
    "upgrade_database",
]
