"""Analytics keyspace (PostgreSQL/TimescaleDB): user_events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from lms_db.models.base import AnalyticsBase, table_args
from lms_db.models.partitions import PartitionSpec
from lms_db.models.types import Json

USER_EVENTS_PARTITION = PartitionSpec(
    kind="RANGE",
    expression="time",
    columns=("time",),
    applied=True,
    reason="PostgreSQL native range partitioning by month (hypertable when TimescaleDB exists)",
    postgresql_expression="time",
)

#: ``INET`` on PostgreSQL, ``VARCHAR(45)`` (an IPv6 text form) elsewhere.
IpAddress = sa.String(45).with_variant(postgresql.INET(), "postgresql")


class UserEvent(AnalyticsBase):
    __tablename__ = "user_events"
    __table_args__ = table_args(
        keyspace="analytics",
        partition=USER_EVENTS_PARTITION,
    )

    time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    event_type: Mapped[str] = mapped_column(
        sa.String(50), primary_key=True
    )  # 'page_view', 'video_play', 'quiz_start', ...
    event_category: Mapped[str | None] = mapped_column(sa.String(50))
    event_action: Mapped[str | None] = mapped_column(sa.String(50))
    event_label: Mapped[str | None] = mapped_column(sa.String(255))
    course_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    lesson_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    quiz_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    session_id: Mapped[str | None] = mapped_column(sa.String(64))
    device_type: Mapped[str | None] = mapped_column(sa.String(20))
    browser: Mapped[str | None] = mapped_column(sa.String(50))
    os: Mapped[str | None] = mapped_column(sa.String(50))
    ip_address: Mapped[str | None] = mapped_column(IpAddress)
    country_code: Mapped[str | None] = mapped_column(sa.CHAR(2))
    properties: Mapped[Any | None] = mapped_column(Json)


# Declared after the class: a DESC key part needs the Column, not its name.
_events = UserEvent.__table__.c
sa.Index("idx_user_events_user_id", _events.user_id, _events.time.desc())
sa.Index("idx_user_events_type", _events.event_type, _events.time.desc())
sa.Index(
    "idx_user_events_course",
    _events.course_id,
    _events.time.desc(),
    postgresql_where=sa.text("course_id IS NOT NULL"),
)
