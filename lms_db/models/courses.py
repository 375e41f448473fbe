"""Course keyspace (and the global categories): courses, modules, lessons, quizzes, reviews."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from lms_db.models.base import (
    Base,
    created_at,
    fulltext_index,
    logical_ref,
    table_args,
    timestamp_null,
    updated_at,
)
from lms_db.models.partitions import Partition, PartitionSpec
from lms_db.models.types import (
    BigUnsigned,
    Enum,
    Int,
    IntUnsigned,
    Json,
    LongText,
    TinyUnsigned,
)

COURSES_PARTITION = PartitionSpec(
    kind="LIST COLUMNS",
    expression="status",
    columns=("status",),
    partitions=(
        Partition("p_draft", values=("draft",)),
        Partition("p_review", values=("review",)),
        Partition("p_published", values=("published",)),
        Partition("p_archived", values=("archived",)),
    ),
    applied=False,
    reason=(
        "primary key id and unique keys uuid/slug lack status; courses is referenced by "
        "foreign keys from course_modules, quizzes and course_reviews; "
        "FULLTEXT idx_courses_fulltext_search"
    ),
)


class CourseCategory(Base):
    __tablename__ = "course_categories"
    __table_args__ = table_args(
        sa.Index("idx_course_categories_parent", "parent_id"),
        sa.Index("idx_course_categories_active", "is_active"),
        keyspace="global",
        redundant_seed_indexes={"idx_slug": "UNIQUE (slug) uq_course_categories_slug"},
    )

    id: Mapped[int] = mapped_column(IntUnsigned, primary_key=True, autoincrement=True)
    parent_id: Mapped[int | None] = mapped_column(
        IntUnsigned, sa.ForeignKey("course_categories.id", ondelete="SET NULL"), nullable=True
    )
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    slug: Mapped[str] = mapped_column(sa.String(100), nullable=False, unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    icon: Mapped[str | None] = mapped_column(sa.String(100))
    color: Mapped[str | None] = mapped_column(sa.String(7))  # hex color
    display_order: Mapped[int | None] = mapped_column(Int, server_default=sa.text("0"))
    is_active: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.true())
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class Course(Base):
    __tablename__ = "courses"
    __table_args__ = table_args(
        sa.Index("idx_courses_instructor", "instructor_id"),
        sa.Index("idx_courses_difficulty", "difficulty_level"),
        sa.Index("idx_courses_price", "price"),
        sa.Index("idx_courses_published_at", "published_at"),
        sa.Index("idx_courses_rating", "average_rating"),
        sa.Index(
            "idx_courses_list_covering",
            "status",
            "published_at",
            "id",
            "title",
            "price",
            "average_rating",
        ),
        *fulltext_index(
            "idx_courses_fulltext_search", "courses", "title", "subtitle", "description"
        ),
        keyspace="course",
        shard_key="id",
        partition=COURSES_PARTITION,
        redundant_seed_indexes={
            "idx_slug": "UNIQUE (slug) uq_courses_slug",
            "idx_category": "idx_courses_category_rating (category_id, average_rating DESC)",
            "idx_status": "idx_courses_list_covering (status, published_at, ...)",
        },
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.CHAR(36), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    slug: Mapped[str] = mapped_column(sa.String(255), nullable=False, unique=True)
    subtitle: Mapped[str | None] = mapped_column(sa.String(500))
    description: Mapped[str | None] = mapped_column(sa.Text)
    learning_objectives: Mapped[Any | None] = mapped_column(Json)  # array of objectives
    prerequisites: Mapped[Any | None] = mapped_column(Json)  # array of prerequisites
    target_audience: Mapped[str | None] = mapped_column(sa.Text)
    thumbnail_url: Mapped[str | None] = mapped_column(sa.String(500))
    promo_video_url: Mapped[str | None] = mapped_column(sa.String(500))
    category_id: Mapped[int | None] = mapped_column(
        IntUnsigned, info=logical_ref("course_categories.id")
    )
    subcategory_id: Mapped[int | None] = mapped_column(
        IntUnsigned, info=logical_ref("course_categories.id")
    )
    tags: Mapped[Any | None] = mapped_column(Json)  # array of tags
    difficulty_level: Mapped[str | None] = mapped_column(
        Enum("difficulty_level", "beginner", "intermediate", "advanced", "expert"),
        server_default="beginner",
    )
    estimated_duration_hours: Mapped[Decimal | None] = mapped_column(sa.Numeric(6, 2))
    price: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2), server_default=sa.text("0.00"))
    currency: Mapped[str | None] = mapped_column(sa.CHAR(3), server_default="INR")
    discount_price: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2), nullable=True)
    is_free: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    instructor_id: Mapped[int] = mapped_column(
        BigUnsigned, nullable=False, info=logical_ref("users.id")
    )
    co_instructors: Mapped[Any | None] = mapped_column(Json)  # array of user ids
    status: Mapped[str | None] = mapped_column(
        Enum("status", "draft", "review", "published", "archived"), server_default="draft"
    )
    published_at: Mapped[datetime | None] = timestamp_null()
    has_certificate: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.true())
    has_quizzes: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    has_assignments: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    has_discussions: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.true())
    language: Mapped[str | None] = mapped_column(sa.String(10), server_default="en")
    has_subtitles: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    subtitle_languages: Mapped[Any | None] = mapped_column(Json)
    meta_title: Mapped[str | None] = mapped_column(sa.String(255))
    meta_description: Mapped[str | None] = mapped_column(sa.Text)
    meta_keywords: Mapped[Any | None] = mapped_column(Json)
    # Statistics, denormalized for listing pages.
    enrollment_count: Mapped[int | None] = mapped_column(IntUnsigned, server_default=sa.text("0"))
    completion_count: Mapped[int | None] = mapped_column(IntUnsigned, server_default=sa.text("0"))
    average_rating: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(3, 2), server_default=sa.text("0.00")
    )
    review_count: Mapped[int | None] = mapped_column(IntUnsigned, server_default=sa.text("0"))
    view_count: Mapped[int | None] = mapped_column(IntUnsigned, server_default=sa.text("0"))
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()
    deleted_at: Mapped[datetime | None] = timestamp_null()  # soft delete


# Declared after the class: a DESC key part needs the Column, not its name.
sa.Index(
    "idx_courses_category_rating",
    Course.__table__.c.category_id,
    Course.__table__.c.average_rating.desc(),
)


class CourseModule(Base):
    __tablename__ = "course_modules"
    __table_args__ = table_args(
        sa.Index("idx_course_modules_course_id", "course_id"),
        sa.Index("idx_course_modules_order", "display_order"),
        keyspace="course",
        shard_key="course_id",
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("courses.id", ondelete="CASCADE"), nullable=False
    )
    title: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    display_order: Mapped[int | None] = mapped_column(Int, server_default=sa.text("0"))
    is_published: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    estimated_duration_minutes: Mapped[int | None] = mapped_column(IntUnsigned)
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class ModuleLesson(Base):
    __tablename__ = "module_lessons"
    __table_args__ = table_args(
        sa.Index("idx_module_lessons_module_id", "module_id"),
        sa.Index("idx_module_lessons_type", "type"),
        sa.Index("idx_module_lessons_order", "display_order"),
        keyspace="course",
        # No course_id column: a lesson lives on its module's shard.
        shard_via=("module_id", "course_modules.id"),
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    module_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("course_modules.id", ondelete="CASCADE"), nullable=False
    )
    title: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    type: Mapped[str] = mapped_column(
        Enum("type", "video", "article", "quiz", "assignment", "live_session", "download"),
        nullable=False,
    )
    video_url: Mapped[str | None] = mapped_column(sa.String(500))
    video_duration_seconds: Mapped[int | None] = mapped_column(IntUnsigned)
    video_provider: Mapped[str | None] = mapped_column(
        Enum("video_provider", "youtube", "vimeo", "aws_s3", "custom")
    )
    article_content: Mapped[str | None] = mapped_column(LongText)
    file_url: Mapped[str | None] = mapped_column(sa.String(500))
    file_size_bytes: Mapped[int | None] = mapped_column(BigUnsigned)
    file_type: Mapped[str | None] = mapped_column(sa.String(50))
    is_free_preview: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    is_downloadable: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    is_published: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    display_order: Mapped[int | None] = mapped_column(Int, server_default=sa.text("0"))
    min_watch_percentage: Mapped[int | None] = mapped_column(Int, server_default=sa.text("80"))
    min_read_time_seconds: Mapped[int | None] = mapped_column(Int)  # for articles
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class Quiz(Base):
    __tablename__ = "quizzes"
    __table_args__ = table_args(
        sa.Index("idx_quizzes_course_id", "course_id"),
        sa.Index("idx_quizzes_type", "quiz_type"),
        keyspace="course",
        shard_key="course_id",
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("courses.id", ondelete="CASCADE"), nullable=False
    )
    # The seed declares no foreign key for these two: kept as logical references.
    module_id: Mapped[int | None] = mapped_column(
        BigUnsigned, nullable=True, info=logical_ref("course_modules.id")
    )
    lesson_id: Mapped[int | None] = mapped_column(
        BigUnsigned, nullable=True, info=logical_ref("module_lessons.id")
    )
    title: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    instructions: Mapped[str | None] = mapped_column(sa.Text)
    quiz_type: Mapped[str | None] = mapped_column(
        Enum("quiz_type", "practice", "graded", "final_exam"), server_default="practice"
    )
    time_limit_minutes: Mapped[int | None] = mapped_column(IntUnsigned, nullable=True)
    passing_score_percentage: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(5, 2), server_default=sa.text("70.00")
    )
    max_attempts: Mapped[int | None] = mapped_column(IntUnsigned, nullable=True)  # NULL: no limit
    total_questions: Mapped[int | None] = mapped_column(IntUnsigned)
    questions_per_attempt: Mapped[int | None] = mapped_column(IntUnsigned)  # randomized quizzes
    shuffle_questions: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.true())
    shuffle_options: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.true())
    show_correct_answers: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.true())
    show_answers_after: Mapped[str | None] = mapped_column(
        Enum(
            "show_answers_after",
            "immediately",
            "after_submission",
            "after_deadline",
            "never",
        ),
        server_default="after_submission",
    )
    available_from: Mapped[datetime | None] = timestamp_null()
    available_until: Mapped[datetime | None] = timestamp_null()
    is_published: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class QuizQuestion(Base):
    __tablename__ = "quiz_questions"
    __table_args__ = table_args(
        sa.Index("idx_quiz_questions_quiz_id", "quiz_id"),
        sa.Index("idx_quiz_questions_type", "question_type"),
        keyspace="course",
        # No course_id column: a question lives on its quiz's shard.
        shard_via=("quiz_id", "quizzes.id"),
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    quiz_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("quizzes.id", ondelete="CASCADE"), nullable=False
    )
    question_text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    question_type: Mapped[str] = mapped_column(
        Enum(
            "question_type",
            "multiple_choice",
            "true_false",
            "short_answer",
            "essay",
            "fill_blank",
        ),
        nullable=False,
    )
    options: Mapped[Any | None] = mapped_column(Json)  # array of options
    correct_answer: Mapped[Any | None] = mapped_column(Json)  # correct option indexes or text
    points: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2), server_default=sa.text("1.00"))
    explanation: Mapped[str | None] = mapped_column(sa.Text)
    image_url: Mapped[str | None] = mapped_column(sa.String(500))
    video_url: Mapped[str | None] = mapped_column(sa.String(500))
    display_order: Mapped[int | None] = mapped_column(Int, server_default=sa.text("0"))
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class CourseReview(Base):
    __tablename__ = "course_reviews"
    __table_args__ = table_args(
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
        sa.CheckConstraint("content_rating BETWEEN 1 AND 5", name="content_rating"),
        sa.CheckConstraint("instructor_rating BETWEEN 1 AND 5", name="instructor_rating"),
        sa.CheckConstraint("value_rating BETWEEN 1 AND 5", name="value_rating"),
        sa.UniqueConstraint("user_id", "course_id", name="unique_user_course_review"),
        sa.Index("idx_course_reviews_course_id", "course_id"),
        sa.Index("idx_course_reviews_rating", "rating"),
        sa.Index("idx_course_reviews_status", "status"),
        sa.Index("idx_course_reviews_created_at", "created_at"),
        keyspace="course",
        shard_key="course_id",
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(
        BigUnsigned, sa.ForeignKey("courses.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(
        BigUnsigned, nullable=False, info=logical_ref("users.id", on_delete="CASCADE")
    )
    enrollment_id: Mapped[int] = mapped_column(
        BigUnsigned, nullable=False, info=logical_ref("enrollments.id", on_delete="CASCADE")
    )
    rating: Mapped[int] = mapped_column(TinyUnsigned, nullable=False)
    title: Mapped[str | None] = mapped_column(sa.String(255))
    review_text: Mapped[str | None] = mapped_column(sa.Text)
    content_rating: Mapped[int | None] = mapped_column(TinyUnsigned)
    instructor_rating: Mapped[int | None] = mapped_column(TinyUnsigned)
    value_rating: Mapped[int | None] = mapped_column(TinyUnsigned)
    helpful_count: Mapped[int | None] = mapped_column(IntUnsigned, server_default=sa.text("0"))
    not_helpful_count: Mapped[int | None] = mapped_column(IntUnsigned, server_default=sa.text("0"))
    status: Mapped[str | None] = mapped_column(
        Enum("status", "pending", "approved", "rejected", "flagged"), server_default="pending"
    )
    moderated_by: Mapped[int | None] = mapped_column(
        BigUnsigned, nullable=True, info=logical_ref("users.id")
    )
    moderated_at: Mapped[datetime | None] = timestamp_null()
    moderation_notes: Mapped[str | None] = mapped_column(sa.Text)
    instructor_response: Mapped[str | None] = mapped_column(sa.Text)
    responded_at: Mapped[datetime | None] = timestamp_null()
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()
