"""User keyspace, compliance: audit_logs (seed "Security Best Practices: Audit Logging").

The seed gives this table no charset; it gets the same InnoDB/utf8mb4 options as the rest
so that a row copied from any other table never changes encoding.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from lms_db.models.base import Base, created_at, logical_ref, pii, table_args
from lms_db.models.types import BigUnsigned, Json


class AuditLog(Base):
    __tablename__ = "audit_logs"
    __table_args__ = table_args(
        sa.Index("idx_audit_logs_user_id", "user_id"),
        sa.Index("idx_audit_logs_table_action", "table_name", "action"),
        sa.Index("idx_audit_logs_created_at", "created_at"),
        keyspace="user",
        shard_key="user_id",
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(BigUnsigned, info=logical_ref("users.id"))
    action: Mapped[str | None] = mapped_column(sa.String(50))
    table_name: Mapped[str | None] = mapped_column(sa.String(50))
    record_id: Mapped[int | None] = mapped_column(BigUnsigned)
    old_values: Mapped[Any | None] = mapped_column(Json)
    new_values: Mapped[Any | None] = mapped_column(Json)
    ip_address: Mapped[str | None] = mapped_column(sa.String(45), info=pii("ip"))
    created_at: Mapped[datetime | None] = created_at()
