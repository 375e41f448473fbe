"""User keyspace, learning: enrollments, lesson_progress, quiz_attempts, certificates.

``enrollments_archive`` holds completed enrollments moved out of ``enrollments`` (seed,
"Data Archival"): the same columns plus ``archived_at``, ids copied, no foreign keys.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from lms_db.models.base import (
    Base,
    created_at,
    logical_ref,
    table_args,
    table_options,
    timestamp_null,
    updated_at,
)
from lms_db.models.partitions import yearly_range
from lms_db.models.types import BigUnsigned, Enum, IntUnsigned, Json, Timestamp

ENROLLMENTS_PARTITION = yearly_range(
    "YEAR(enrolled_at)",
    "enrolled_at",
    range(2024, 2027),
    reason=(
        "primary key id and unique_enrollment (user_id, course_id) lack enrolled_at; "
        "enrollments has a foreign key to users and is referenced by foreign keys from "
        "lesson_progress, quiz_attempts and certificates; YEAR() on a TIMESTAMP column"
    ),
)

_ENROLLMENT_TYPES = ("free", "paid", "gifted", "scholarship")
_ENROLLMENT_STATUSES = ("active", "completed", "expired", "refunded", "cancelled")


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = table_args(
        sa.UniqueConstraint("user_id", "course_id", name="unique_enrollment"),
        sa.Index("idx_enrollments_course_id", "course_id"),
        sa.Index("idx_enrollments_status", "status"),
        sa.Index("idx_enrollments_enrolled_at", "enrolled_at"),
        sa.Index("idx_enrollments_progress", "progress_percentage"),
        sa.Index("idx_enrollments_user_status", "user_id", "status", "enrolled_at"),
        keyspace="user",
        shard_key="user_id",
        partition=ENROLLMENTS_PARTITION,
        # lmsdb archive: progress and attempts (ON DELETE CASCADE) travel in the same object;
        # an enrollment with a certificate (no cascade: certificates outlive it) is skipped.
        archive={"with": ("lesson_progress", "quiz_attempts"), "skip_if": ("certificates",)},
        redundant_seed_indexes={
            "idx_user_id": "unique_enrollment (user_id, course_id) / idx_enrollments_user_status",
        },
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    course_id: Mapped[int] = mapped_column(
        BigUnsigned, nullable=False, info=logical_ref("courses.id", on_delete="CASCADE")
    )
    enrollment_type: Mapped[str | None] = mapped_column(
        Enum("enrollment_type", *_ENROLLMENT_TYPES), server_default="free"
    )
    # The seed declares no foreign key for payment_id/certificate_id: logical references.
    payment_id: Mapped[int | None] = mapped_column(
        BigUnsigned, nullable=True, info=logical_ref("payments.id")
    )
    status: Mapped[str | None] = mapped_column(
        Enum("status", *_ENROLLMENT_STATUSES), server_default="active"
    )
    progress_percentage: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(5, 2), server_default=sa.text("0.00")
    )
    completed_lessons: Mapped[int | None] = mapped_column(IntUnsigned, server_default=sa.text("0"))
    total_lessons: Mapped[int | None] = mapped_column(IntUnsigned)
    total_watch_time_seconds: Mapped[int | None] = mapped_column(
        BigUnsigned, server_default=sa.text("0")
    )
    last_accessed_at: Mapped[datetime | None] = timestamp_null()
    completed_at: Mapped[datetime | None] = timestamp_null()
    certificate_issued_at: Mapped[datetime | None] = timestamp_null()
    certificate_id: Mapped[int | None] = mapped_column(
        BigUnsigned, nullable=True, info=logical_ref("certificates.id")
    )
    enrolled_at: Mapped[datetime | None] = mapped_column(
        Timestamp, nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
    )
    expires_at: Mapped[datetime | None] = timestamp_null()  # time-limited courses
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class LessonProgress(Base):
    __tablename__ = "lesson_progress"
    __table_args__ = table_args(
        sa.UniqueConstraint("user_id", "lesson_id", name="unique_user_lesson"),
        sa.Index("idx_lesson_progress_enrollment_id", "enrollment_id"),
        sa.Index("idx_lesson_progress_status", "status"),
        # The seed's FK to module_lessons gave MySQL an implicit index; the logical
        # reference keeps it for lesson lookups and `lmsdb check refs`.
        sa.Index("idx_lesson_progress_lesson_id", "lesson_id"),
        keyspace="user",
        shard_key="user_id",
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    lesson_id: Mapped[int] = mapped_column(
        BigUnsigned, nullable=False, info=logical_ref("module_lessons.id", on_delete="CASCADE")
    )
    enrollment_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("enrollments.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str | None] = mapped_column(
        Enum("status", "not_started", "in_progress", "completed"), server_default="not_started"
    )
    progress_percentage: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(5, 2), server_default=sa.text("0.00")
    )
    last_position_seconds: Mapped[int | None] = mapped_column(
        IntUnsigned, server_default=sa.text("0")
    )
    watch_time_seconds: Mapped[int | None] = mapped_column(IntUnsigned, server_default=sa.text("0"))
    completed_at: Mapped[datetime | None] = timestamp_null()
    user_notes: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class QuizAttempt(Base):
    __tablename__ = "quiz_attempts"
    __table_args__ = table_args(
        sa.UniqueConstraint("quiz_id", "user_id", "attempt_number", name="unique_attempt"),
        sa.Index("idx_quiz_attempts_user_id", "user_id"),
        sa.Index("idx_quiz_attempts_status", "status"),
        sa.Index("idx_quiz_attempts_submitted_at", "submitted_at"),
        # Not in the seed: MySQL needs an index led by every foreign key column.
        sa.Index("idx_quiz_attempts_enrollment_id", "enrollment_id"),
        keyspace="user",
        shard_key="user_id",
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    quiz_id: Mapped[int] = mapped_column(
        BigUnsigned, nullable=False, info=logical_ref("quizzes.id", on_delete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    enrollment_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("enrollments.id", ondelete="CASCADE"), nullable=False
    )
    attempt_number: Mapped[int] = mapped_column(IntUnsigned, nullable=False)
    answers: Mapped[Any | None] = mapped_column(Json)  # [{question_id, answer, is_correct, points}]
    total_points: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 2))
    earned_points: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 2))
    percentage: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    passed: Mapped[bool | None] = mapped_column(sa.Boolean)
    started_at: Mapped[datetime | None] = mapped_column(
        Timestamp, nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
    )
    submitted_at: Mapped[datetime | None] = timestamp_null()
    time_taken_seconds: Mapped[int | None] = mapped_column(IntUnsigned)
    status: Mapped[str | None] = mapped_column(
        Enum("status", "in_progress", "submitted", "graded", "expired"),
        server_default="in_progress",
    )
    graded_by: Mapped[int | None] = mapped_column(
        BigUnsigned, nullable=True, info=logical_ref("users.id")
    )  # manual grading
    graded_at: Mapped[datetime | None] = timestamp_null()
    feedback: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = table_args(
        sa.UniqueConstraint("user_id", "course_id", name="unique_user_course"),
        sa.Index("idx_certificates_completion_date", "completion_date"),
        # Not in the seed: MySQL needs an index led by every foreign key column.
        sa.Index("idx_certificates_enrollment_id", "enrollment_id"),
        sa.Index("idx_certificates_course_id", "course_id"),  # was the seed FK's implicit index
        keyspace="user",
        shard_key="user_id",
        redundant_seed_indexes={
            "idx_certificate_number": (
                "UNIQUE (certificate_number) uq_certificates_certificate_number"
            ),
            "idx_verification_code": "UNIQUE (verification_code) uq_certificates_verification_code",
        },
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigUnsigned, sa.ForeignKey("users.id"), nullable=False)
    course_id: Mapped[int] = mapped_column(
        BigUnsigned, nullable=False, info=logical_ref("courses.id")
    )
    enrollment_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("enrollments.id"), nullable=False
    )
    certificate_number: Mapped[str] = mapped_column(sa.String(50), nullable=False, unique=True)
    verification_code: Mapped[str] = mapped_column(sa.CHAR(32), nullable=False, unique=True)
    student_name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    course_title: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    instructor_name: Mapped[str | None] = mapped_column(sa.String(255))
    completion_date: Mapped[date] = mapped_column(sa.Date, nullable=False)
    grade: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))  # final grade
    pdf_url: Mapped[str | None] = mapped_column(sa.String(500))
    pdf_generated_at: Mapped[datetime | None] = timestamp_null()
    is_verified: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.true())
    verified_at: Mapped[datetime | None] = mapped_column(
        Timestamp, nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
    )
    blockchain_hash: Mapped[str | None] = mapped_column(sa.String(255))
    blockchain_verified: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    is_revoked: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    revoked_at: Mapped[datetime | None] = timestamp_null()
    revoked_by: Mapped[int | None] = mapped_column(
        BigUnsigned, nullable=True, info=logical_ref("users.id")
    )
    revocation_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


def _archive_columns() -> list[sa.Column[Any]]:
    """:class:`Enrollment`'s columns, in its order, as plain copies.

    Derived rather than repeated so the archive can never fall behind ``enrollments``.  A
    copy keeps type, nullability and defaults, but no foreign key, no auto-increment (ids are
    the enrollments' own) and no ``ON UPDATE`` (``updated_at`` records the enrollment's
    last change, which touching the archived row must not rewrite).
    """
    columns: list[sa.Column[Any]] = []
    for column in Enrollment.__table__.columns:
        stamps = column.info.get("on_update_now", False)
        columns.append(
            sa.Column(
                column.name,
                column.type,  # shared: a copy would drop the per-dialect variants
                primary_key=column.primary_key,
                autoincrement=False,
                nullable=column.nullable,
                server_default=None if stamps else column.server_default,
            )
        )
    return columns


class EnrollmentArchive(Base):
    """Archived enrollments: :class:`Enrollment`'s columns, in its order, plus ``archived_at``.

    No foreign keys and no logical references: an archived row may outlive what it names.
    """

    __table__ = sa.Table(
        "enrollments_archive",
        Base.metadata,
        *_archive_columns(),
        sa.Column(
            "archived_at", Timestamp, nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
        ),
        sa.Index("idx_enrollments_archive_user_course", "user_id", "course_id"),
        sa.Index("idx_enrollments_archive_completed_at", "completed_at"),
        **table_options(keyspace="user", shard_key="user_id"),
    )
