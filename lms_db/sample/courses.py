"""Sample data, course side: courses with modules, lessons, quizzes and questions, and the
global reference tables (categories, coupons) every shard gets a copy of.

Values are plain ``int``/``str``/``bool``/``None`` (timestamps as ``YYYY-MM-DD HH:MM:SS``
text, decimals as text) so one row renders on every dialect; see :mod:`lms_db.sample.writer`.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lms_db.sample import words

#: Every generated timestamp lies after this instant (2024-01-01 00:00:00 UTC).
BASE_EPOCH = 1_704_067_200
#: ... and within this many seconds of it (about 18 months; far from TIMESTAMP's 2038 end).
SPAN_SECONDS = 540 * 86_400

NextId = Callable[[str, str], int]
Rows = dict[str, list[tuple[object, ...]]]


class RowSink(Protocol):
    """Where the generator appends one table's rows: a list, or anything with ``append``
    (the MySQL writer renders each row as it comes: :class:`~lms_db.sample.writer.TextRows`).
    """

    def append(self, row: tuple[object, ...], /) -> None: ...


#: The user side's output: ``out[database][table].append(row)``.
Sinks = Mapping[str, Mapping[str, RowSink]]

COLUMNS: dict[str, tuple[str, ...]] = {
    "course_categories": (
        "id",
        "parent_id",
        "name",
        "slug",
        "description",
        "icon",
        "color",
        "display_order",
        "is_active",
        "created_at",
        "updated_at",
    ),
    "coupons": (
        "id",
        "code",
        "discount_type",
        "discount_value",
        "max_discount_amount",
        "applicable_to",
        "max_uses",
        "max_uses_per_user",
        "current_uses",
        "valid_from",
        "valid_until",
        "min_purchase_amount",
        "is_active",
        "created_at",
        "updated_at",
    ),
    "courses": (
        "id",
        "uuid",
        "title",
        "slug",
        "subtitle",
        "description",
        "learning_objectives",
        "prerequisites",
        "category_id",
        "subcategory_id",
        "tags",
        "difficulty_level",
        "estimated_duration_hours",
        "price",
        "currency",
        "discount_price",
        "is_free",
        "instructor_id",
        "status",
        "published_at",
        "has_certificate",
        "has_quizzes",
        "language",
        "enrollment_count",
        "completion_count",
        "average_rating",
        "review_count",
        "view_count",
        "created_at",
        "updated_at",
    ),
    "course_modules": (
        "id",
        "course_id",
        "title",
        "description",
        "display_order",
        "is_published",
        "estimated_duration_minutes",
        "created_at",
        "updated_at",
    ),
    "module_lessons": (
        "id",
        "module_id",
        "title",
        "type",
        "video_url",
        "video_duration_seconds",
        "video_provider",
        "is_free_preview",
        "is_published",
        "display_order",
        "min_read_time_seconds",
        "created_at",
        "updated_at",
    ),
    "quizzes": (
        "id",
        "course_id",
        "module_id",
        "title",
        "quiz_type",
        "time_limit_minutes",
        "passing_score_percentage",
        "max_attempts",
        "total_questions",
        "is_published",
        "created_at",
        "updated_at",
    ),
    "quiz_questions": (
        "id",
        "quiz_id",
        "question_text",
        "question_type",
        "options",
        "correct_answer",
        "points",
        "display_order",
        "created_at",
        "updated_at",
    ),
}

_LESSON_TYPES = ("video", "video", "video", "article", "article", "assignment", "download")
_QUESTION_TYPES = (
    "multiple_choice",
    "multiple_choice",
    "true_false",
    "short_answer",
    "fill_blank",
    "essay",
)


# Day and time-of-day texts, built once: the loader formats a few timestamps per row, so a
# timestamp is two list lookups and one concatenation (the user side inlines it).
DAYS = [
    time.strftime("%Y-%m-%d ", time.gmtime(BASE_EPOCH + d * 86_400))
    for d in range(2 * SPAN_SECONDS // 86_400 + 400)
]
CLOCK = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def ts(seconds: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) ``seconds`` after :data:`BASE_EPOCH`.

    :param seconds: offset from the base instant (0 up to about 2.5 years).
    """
    return DAYS[seconds // 86_400] + CLOCK[seconds % 86_400]


def fast_draws(rng: random.Random) -> Callable[[int], int]:
    """``rng``'s ``below(n)``: a uniform int in ``[0, n)``, the draw every helper makes.

    ``rng.choice(seq)`` is ``seq[below(len(seq))]`` and ``rng.randint(a, b)`` is
    ``a + below(b - a + 1)`` in CPython's :mod:`random` (both call ``_randbelow``), so the
    generator calls it directly and skips their argument checks: the same numbers for the
    same seed, about twice as fast.  ``tests/backend/test_sample.py`` checks the
    equivalence on the running Python.

    :param rng: the loader's random source.
    """
    return rng._randbelow  # type: ignore[attr-defined,no-any-return]


def det_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (deterministic for a seed)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def sentence(rng: random.Random, n: int) -> str:
    """``n`` words of sample text, capitalized, with a full stop."""
    below, lorem = fast_draws(rng), words.LOREM
    text = " ".join([lorem[below(len(lorem))] for _ in range(n)])
    return text[0].upper() + text[1:] + "."


@dataclass
class CoursePlan:
    """What the user side needs to know about one generated course.

    :param id: the course id.
    :param shard: the shard it lives on.
    :param title: its title (copied into certificates).
    :param price: its price as text (``"0.00"`` when free).
    :param has_certificate: whether completing it issues a certificate.
    :param instructor_name: for certificates.
    :param lessons: lesson ids in course order.
    :param quizzes: ``(quiz id, number of questions)``.
    """

    id: int
    shard: str
    title: str
    price: str
    has_certificate: bool
    instructor_name: str
    lessons: list[int] = field(default_factory=list)
    quizzes: list[tuple[int, int]] = field(default_factory=list)
    published: bool = True
    enrollments: int = 0
    completions: int = 0
    reviews: int = 0
    rating_sum: int = 0
    row: list[object] = field(default_factory=list)
    rows: Rows = field(default_factory=dict)


def global_rows(rng: random.Random) -> Rows:
    """Categories (with parents) and coupons: the same rows on every shard."""
    categories: list[tuple[object, ...]] = []
    next_id = 1
    for order, (parent, children) in enumerate(words.CATEGORIES):
        parent_id = next_id
        categories.append(_category(parent_id, None, parent, order))
        next_id += 1
        for child_order, child in enumerate(children):
            categories.append(_category(next_id, parent_id, child, child_order))
            next_id += 1
    coupons: list[tuple[object, ...]] = []
    for i in range(1, 21):
        percentage = i % 2 == 1
        coupons.append(
            (
                i,
                f"SAVE{i:02d}{rng.choice(words.SUBJECTS)[:3].upper()}",
                "percentage" if percentage else "fixed_amount",
                f"{rng.choice((10, 15, 20, 25, 50)) if percentage else rng.randint(1, 20) * 100}.00",  # noqa: E501
                "500.00" if percentage else None,
                "all_courses",
                rng.choice((None, 100, 1000)),
                1,
                0,
                ts(0),
                ts(SPAN_SECONDS + 365 * 86_400),
                "0.00",
                i % 7 != 0,
                ts(0),
                ts(0),
            )
        )
    return {"course_categories": categories, "coupons": coupons}


def _category(cid: int, parent: int | None, name: str, order: int) -> tuple[object, ...]:
    slug = name.lower().replace(" ", "-")
    return (
        cid,
        parent,
        name,
        slug,
        f"Courses about {name}.",
        f"icon-{slug}",
        f"#{(cid * 2654435761) % 0xFFFFFF:06x}",
        order,
        True,
        ts(0),
        ts(0),
    )


def category_ids() -> list[tuple[int, int]]:
    """``(category, subcategory)`` id pairs as :func:`global_rows` numbers them."""
    pairs, next_id = [], 1
    for _, children in words.CATEGORIES:
        parent = next_id
        next_id += 1
        for _ in children:
            pairs.append((parent, next_id))
            next_id += 1
    return pairs


def course_rows(
    rng: random.Random,
    course_id: int,
    shard: str,
    instructor: tuple[int, str],
    next_id: NextId,
    out: Rows,
) -> CoursePlan:
    """Generate one course with its modules, lessons, quizzes and questions into ``out``.

    The ``courses`` row itself is kept in the plan (its statistics are filled in from the
    enrollments) and written last.

    :param rng: the loader's random source.
    :param course_id: the course's id (from a window of its shard).
    :param shard: the shard it lives on.
    :param instructor: ``(user id, display name)`` of its instructor.
    :param next_id: ``next_id(shard, table)`` hands out ids from the shard's windows.
    :param out: rows per table, appended to.
    """
    subject = rng.choice(words.SUBJECTS)
    title = f"{rng.choice(words.LEVEL_WORDS)} {subject}"
    created = rng.randrange(0, SPAN_SECONDS // 3)
    status = rng.choices(("published", "draft", "review", "archived"), (80, 8, 6, 6))[0]
    is_free = rng.random() < 0.15
    price = "0.00" if is_free else f"{rng.choice((499, 999, 1499, 2999, 4999))}.00"
    plan = CoursePlan(
        course_id,
        shard,
        title,
        price,
        rng.random() < 0.8,
        instructor[1],
        published=status == "published",
        rows=out,
    )
    order = 0
    for m in range(rng.randint(3, 5)):
        module_id = next_id(shard, "course_modules")
        out["course_modules"].append(
            (
                module_id,
                course_id,
                f"Module {m + 1}: {rng.choice(words.TOPIC_WORDS).title()}",
                sentence(rng, 8),
                m,
                True,
                rng.randint(20, 180),
                ts(created),
                ts(created),
            )
        )
        for lesson_no in range(rng.randint(2, 4)):
            lesson_id = next_id(shard, "module_lessons")
            kind = rng.choice(_LESSON_TYPES)
            video = kind == "video"
            out["module_lessons"].append(
                (
                    lesson_id,
                    module_id,
                    f"{rng.choice(words.TOPIC_WORDS).title()} {lesson_no + 1}",
                    kind,
                    f"https://videos.example.com/{lesson_id}" if video else None,
                    rng.randint(120, 1800) if video else None,
                    rng.choice(("youtube", "vimeo", "aws_s3")) if video else None,
                    order == 0,
                    True,
                    order,
                    rng.randint(60, 600) if kind == "article" else None,
                    ts(created),
                    ts(created),
                )
            )
            plan.lessons.append(lesson_id)
            order += 1
        if rng.random() < 0.4:
            quiz_id = next_id(shard, "quizzes")
            n = rng.randint(3, 6)
            out["quizzes"].append(
                (
                    quiz_id,
                    course_id,
                    module_id,
                    f"Quiz: {rng.choice(words.TOPIC_WORDS)}",
                    rng.choice(("practice", "graded", "final_exam")),
                    rng.choice((None, 15, 30)),
                    "70.00",
                    rng.choice((None, 3)),
                    n,
                    True,
                    ts(created),
                    ts(created),
                )
            )
            for q in range(n):
                qtype = rng.choice(_QUESTION_TYPES)
                options = json.dumps(["A", "B", "C", "D"]) if qtype == "multiple_choice" else None
                answer = json.dumps(rng.randrange(4) if options else rng.choice(words.LOREM))
                out["quiz_questions"].append(
                    (
                        next_id(shard, "quiz_questions"),
                        quiz_id,
                        sentence(rng, 9)[:-1] + "?",
                        qtype,
                        options,
                        answer,
                        "1.00",
                        q,
                        ts(created),
                        ts(created),
                    )
                )
            plan.quizzes.append((quiz_id, n))
    category, subcategory = rng.choice(category_ids())
    published = ts(created + 86_400) if plan.published else None
    plan.row = [
        course_id,
        det_uuid(rng),
        title,
        f"{title.lower().replace(' ', '-')}-{course_id}",
        f"Learn {subject} step by step",
        sentence(rng, 25),
        json.dumps([sentence(rng, 5) for _ in range(3)]),
        json.dumps([]),
        category,
        subcategory,
        json.dumps(sorted({subject.lower(), rng.choice(words.TOPIC_WORDS)})),
        rng.choice(("beginner", "intermediate", "advanced", "expert")),
        f"{rng.randint(2, 60)}.50",
        price,
        "INR",
        None,
        is_free,
        instructor[0],
        status,
        published,
        plan.has_certificate,
        bool(plan.quizzes),
        "en",
        0,
        0,
        "0.00",
        0,
        rng.randint(0, 50_000),
        ts(created),
        ts(created),
    ]
    return plan


def finish_course(plan: CoursePlan) -> tuple[object, ...]:
    """The ``courses`` row with the statistics of the generated enrollments and reviews."""
    row = list(plan.row)
    rating = f"{plan.rating_sum / plan.reviews:.2f}" if plan.reviews else "0.00"
    row[23:27] = [plan.enrollments, plan.completions, rating, plan.reviews]
    return tuple(row)
