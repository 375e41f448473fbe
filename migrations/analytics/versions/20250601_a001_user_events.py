"""Analytics schema: user_events, natively partitioned by time (a hypertable on TimescaleDB).

The statements are exactly those of ``lms_db.ddl.schema_statements(dialect,
target="analytics")``; on PostgreSQL with the timescaledb extension installed
(``SELECT 1 FROM pg_extension WHERE extname='timescaledb'``) the table becomes a hypertable.

Revision ID: a001
Revises:
Create Date: 2025-06-01 00:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

from lms_db.fleet.schema_ops import create_schema_objects, drop_schema_objects

# revision identifiers, used by Alembic.
revision: str = "a001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create user_events."""
    create_schema_objects("analytics")


def downgrade() -> None:
    """Drop user_events and its partitions (every event in it is lost)."""
    drop_schema_objects("analytics")
