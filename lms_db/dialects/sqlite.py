"""SQLite: ``updated_at`` triggers (SQLite has no ``ON UPDATE`` column clause)."""

from __future__ import annotations

import sqlalchemy as sa

from lms_db.dialects.facts import quote, touch_trigger_name


def touch_trigger(table: sa.Table) -> str:
    """``AFTER UPDATE`` trigger that stamps ``updated_at`` unless the statement set it.

    SQLite's default ``recursive_triggers=OFF`` keeps the inner UPDATE from re-firing it.
    """
    name = quote("sqlite", table.name)
    trigger = quote("sqlite", touch_trigger_name(table.name))
    return (
        f"CREATE TRIGGER {trigger} AFTER UPDATE ON {name} "
        "FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at BEGIN "
        f"UPDATE {name} SET updated_at = CURRENT_TIMESTAMP WHERE rowid = NEW.rowid; END"
    )
