"""User keyspace, identity: users, user_profiles, user_sessions, user_oauth_providers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from lms_db.models.base import (
    Base,
    created_at,
    fulltext_index,
    pii,
    table_args,
    timestamp_null,
    updated_at,
)
from lms_db.models.partitions import yearly_range
from lms_db.models.types import BigUnsigned, Enum, IntUnsigned, Json, Timestamp

USERS_PARTITION = yearly_range(
    "YEAR(created_at)",
    "created_at",
    range(2024, 2027),
    reason=(
        "unique keys uuid/email lack created_at; users is referenced by foreign keys; "
        "FULLTEXT idx_users_fulltext_name; YEAR() on a TIMESTAMP column"
    ),
)


class User(Base):
    __tablename__ = "users"
    __table_args__ = table_args(
        sa.Index("idx_users_role", "role"),
        sa.Index("idx_users_status", "status"),
        sa.Index("idx_users_created_at", "created_at"),
        sa.Index("idx_users_deleted_at", "deleted_at"),
        *fulltext_index(
            "idx_users_fulltext_name", "users", "first_name", "last_name", "display_name"
        ),
        keyspace="user",
        shard_key="id",
        partition=USERS_PARTITION,
        redundant_seed_indexes={"idx_email": "UNIQUE (email) uq_users_email"},
        row_level_security=True,  # PostgreSQL: a user sees their own row, an admin all
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.CHAR(36), nullable=False, unique=True)
    email: Mapped[str] = mapped_column(
        sa.String(255), nullable=False, unique=True, info=pii("email")
    )
    email_verified_at: Mapped[datetime | None] = timestamp_null()
    password_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    first_name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    last_name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    avatar_url: Mapped[str | None] = mapped_column(sa.String(500))
    bio: Mapped[str | None] = mapped_column(sa.Text)
    role: Mapped[str | None] = mapped_column(
        Enum("role", "student", "instructor", "admin", "super_admin"), server_default="student"
    )
    status: Mapped[str | None] = mapped_column(
        Enum("status", "active", "suspended", "deleted", "pending"), server_default="pending"
    )
    timezone: Mapped[str | None] = mapped_column(sa.String(50), server_default="UTC")
    locale: Mapped[str | None] = mapped_column(sa.String(10), server_default="en")
    last_login_at: Mapped[datetime | None] = timestamp_null()
    last_login_ip: Mapped[str | None] = mapped_column(sa.String(45), info=pii("ip"))
    login_count: Mapped[int | None] = mapped_column(IntUnsigned, server_default=sa.text("0"))
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()
    deleted_at: Mapped[datetime | None] = timestamp_null()  # soft delete


class UserProfile(Base):
    __tablename__ = "user_profiles"
    __table_args__ = table_args(
        sa.Index("idx_user_profiles_country", "country_code"),
        sa.Index("idx_user_profiles_occupation", "occupation"),
        keyspace="user",
        shard_key="user_id",
    )

    user_id: Mapped[int] = mapped_column(
        BigUnsigned,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    date_of_birth: Mapped[date | None] = mapped_column(sa.Date, info=pii("birth_date"))
    gender: Mapped[str | None] = mapped_column(
        Enum("gender", "male", "female", "other", "prefer_not_to_say")
    )
    phone: Mapped[str | None] = mapped_column(sa.String(20), info=pii("phone"))
    country_code: Mapped[str | None] = mapped_column(sa.CHAR(2))  # ISO 3166-1 alpha-2
    occupation: Mapped[str | None] = mapped_column(sa.String(100))
    organization: Mapped[str | None] = mapped_column(sa.String(200))
    job_title: Mapped[str | None] = mapped_column(sa.String(100))
    education_level: Mapped[str | None] = mapped_column(
        Enum("education_level", "high_school", "bachelors", "masters", "phd", "other")
    )
    field_of_study: Mapped[str | None] = mapped_column(sa.String(100))
    linkedin_url: Mapped[str | None] = mapped_column(sa.String(500))
    github_url: Mapped[str | None] = mapped_column(sa.String(500))
    twitter_handle: Mapped[str | None] = mapped_column(sa.String(100))
    website_url: Mapped[str | None] = mapped_column(sa.String(500))
    email_notifications: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.true())
    push_notifications: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.true())
    marketing_emails: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    profile_visibility: Mapped[str | None] = mapped_column(
        Enum("profile_visibility", "public", "private", "connections_only"),
        server_default="public",
    )
    show_email: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class UserSession(Base):
    __tablename__ = "user_sessions"
    __table_args__ = table_args(
        sa.Index("idx_user_sessions_user_id", "user_id"),
        sa.Index("idx_user_sessions_expires_at", "expires_at"),
        sa.Index("idx_user_sessions_last_activity", "last_activity_at"),
        keyspace="user",
        shard_key="user_id",
    )

    id: Mapped[str] = mapped_column(
        sa.CHAR(64), primary_key=True, info=pii("token")
    )  # session token hash
    user_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    ip_address: Mapped[str | None] = mapped_column(sa.String(45), info=pii("ip"))
    user_agent: Mapped[str | None] = mapped_column(sa.Text)
    device_type: Mapped[str | None] = mapped_column(
        Enum("device_type", "desktop", "mobile", "tablet", "other")
    )
    browser: Mapped[str | None] = mapped_column(sa.String(50))
    os: Mapped[str | None] = mapped_column(sa.String(50))
    country_code: Mapped[str | None] = mapped_column(sa.CHAR(2))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime | None] = created_at()
    last_activity_at: Mapped[datetime | None] = mapped_column(
        Timestamp, nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
    )
    expires_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class UserOAuthProvider(Base):
    __tablename__ = "user_oauth_providers"
    __table_args__ = table_args(
        sa.UniqueConstraint("provider", "provider_user_id", name="unique_provider_user"),
        sa.Index("idx_user_oauth_providers_user_id", "user_id"),
        keyspace="user",
        shard_key="user_id",
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    provider: Mapped[str] = mapped_column(
        Enum("provider", "google", "microsoft", "github", "linkedin", "facebook"), nullable=False
    )
    provider_user_id: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    provider_email: Mapped[str | None] = mapped_column(sa.String(255), info=pii("email"))
    access_token: Mapped[str | None] = mapped_column(sa.Text, info=pii("token"))
    refresh_token: Mapped[str | None] = mapped_column(sa.Text, info=pii("token"))
    token_expires_at: Mapped[datetime | None] = timestamp_null()
    provider_data: Mapped[Any | None] = mapped_column(Json)  # full provider profile
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()
