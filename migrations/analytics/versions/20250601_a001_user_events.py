"""Analytics schema: user_events, natively partitioned by time (a hypertable on TimescaleDB).

The statements are those ``lms_db.schema.ddl.schema_statements(dialect, target="analytics")``
rendered when this revision was written, frozen in ``a001_user_events/``; on PostgreSQL
with the timescaledb extension installed the table becomes a hypertable.

Revision ID: a001
Revises:
Create Date: 2025-06-01 00:00:00

"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lms_db.migrate.schema_ops import SchemaSnapshot, create_schema_objects, drop_schema_objects

# revision identifiers, used by Alembic.
revision: str = "a001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The DDL as rendered when this revision was written, frozen (one file per dialect).
SNAPSHOT = SchemaSnapshot(Path(__file__).parent / "a001_user_events")


def upgrade() -> None:
    """Create user_events."""
    create_schema_objects(SNAPSHOT, timescale_aware=True)


def downgrade() -> None:
    """Drop user_events and its partitions (every event in it is lost)."""
    drop_schema_objects(SNAPSHOT)
