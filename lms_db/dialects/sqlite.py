"""SQLite: ``updated_at`` triggers (SQLite has no ``ON UPDATE`` column clause)."""

from __future__ import annotations

import sqlalchemy as sa


def touch_trigger(table: sa.Table) -> str:
    """``AFTER UPDATE`` trigger that stamps ``updated_at`` unless the statement set it.

    SQLite's default ``recursive_triggers=OFF`` keeps the inner UPDATE from re-firing it.
    """
    return (
        f"CREATE TRIGGER trg_{table.name}_updated_at AFTER UPDATE ON {table.name} "
        "FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at BEGIN "
        f"UPDATE {table.name} SET updated_at = CURRENT_TIMESTAMP WHERE rowid = NEW.rowid; END"
    )
