"""Sample data, user side: a user with profile, sessions, oauth links and audit row, and
their enrollments with lesson progress, quiz attempts, payments, certificates, reviews (on
the course's shard) and analytics events.

This is the loader's hot loop (about 20 rows per user), so it draws with
:func:`~lms_db.sample.courses.fast_draws` (``rng.choice(seq)`` is ``seq[below(len(seq))]``,
``rng.randint(a, b)`` is ``a + below(b - a + 1)``), formats timestamps inline and reuses
precomputed texts.  Every draw is made in the same order as with the plain helpers, so the
rows for a seed do not change.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable, Sequence

from lms_db.sample import words
from lms_db.sample.courses import (
    CLOCK,
    DAYS,
    SPAN_SECONDS,
    CoursePlan,
    NextId,
    Sinks,
    det_uuid,
    fast_draws,
    sentence,
    ts,
)

COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "id",
        "uuid",
        "email",
        "email_verified_at",
        "password_hash",
        "first_name",
        "last_name",
        "display_name",
        "role",
        "status",
        "timezone",
        "locale",
        "last_login_at",
        "last_login_ip",
        "login_count",
        "created_at",
        "updated_at",
    ),
    "user_profiles": (
        "user_id",
        "date_of_birth",
        "gender",
        "country_code",
        "occupation",
        "education_level",
        "profile_visibility",
        "created_at",
        "updated_at",
    ),
    "user_sessions": (
        "id",
        "user_id",
        "ip_address",
        "device_type",
        "browser",
        "os",
        "country_code",
        "city",
        "created_at",
        "last_activity_at",
        "expires_at",
    ),
    "user_oauth_providers": (
        "id",
        "user_id",
        "provider",
        "provider_user_id",
        "provider_email",
        "created_at",
        "updated_at",
    ),
    "audit_logs": (
        "id",
        "user_id",
        "action",
        "table_name",
        "record_id",
        "ip_address",
        "created_at",
    ),
    "enrollments": (
        "id",
        "user_id",
        "course_id",
        "enrollment_type",
        "payment_id",
        "status",
        "progress_percentage",
        "completed_lessons",
        "total_lessons",
        "total_watch_time_seconds",
        "last_accessed_at",
        "completed_at",
        "certificate_issued_at",
        "certificate_id",
        "enrolled_at",
        "created_at",
        "updated_at",
    ),
    "lesson_progress": (
        "id",
        "user_id",
        "lesson_id",
        "enrollment_id",
        "status",
        "progress_percentage",
        "watch_time_seconds",
        "completed_at",
        "created_at",
        "updated_at",
    ),
    "quiz_attempts": (
        "id",
        "quiz_id",
        "user_id",
        "enrollment_id",
        "attempt_number",
        "total_points",
        "earned_points",
        "percentage",
        "passed",
        "started_at",
        "submitted_at",
        "time_taken_seconds",
        "status",
        "created_at",
        "updated_at",
    ),
    "payments": (
        "id",
        "user_id",
        "course_id",
        "amount",
        "currency",
        "original_amount",
        "discount_amount",
        "coupon_code",
        "payment_gateway",
        "gateway_transaction_id",
        "payment_method",
        "status",
        "invoice_number",
        "paid_at",
        "created_at",
        "updated_at",
    ),
    "certificates": (
        "id",
        "user_id",
        "course_id",
        "enrollment_id",
        "certificate_number",
        "verification_code",
        "student_name",
        "course_title",
        "instructor_name",
        "completion_date",
        "grade",
        "verified_at",
        "created_at",
        "updated_at",
    ),
    "course_reviews": (
        "id",
        "course_id",
        "user_id",
        "enrollment_id",
        "rating",
        "title",
        "review_text",
        "content_rating",
        "instructor_rating",
        "value_rating",
        "status",
        "created_at",
        "updated_at",
    ),
    "user_events": (
        "time",
        "user_id",
        "event_type",
        "event_category",
        "event_action",
        "course_id",
        "session_id",
        "device_type",
        "country_code",
    ),
}

#: Passwords are never real: one bcrypt-shaped constant.
PASSWORD_HASH = "$2b$12$" + "sampledatasampledatasampledatasampledatasampleda"[:53]


def user_rows(
    rng: random.Random,
    user_id: int,
    shard: str,
    role: str,
    courses: Sequence[CoursePlan],
    next_id: NextId,
    out: Sinks,
    *,
    events: bool,
) -> None:
    """Generate one user and everything they did into ``out[shard][table]``.

    :param rng: the loader's random source.
    :param user_id: the user's id (from a users window inside the shard's range).
    :param shard: the shard owning ``user_id``.
    :param role: ``student`` or ``instructor``.
    :param courses: published courses to enroll in.
    :param next_id: ``next_id(shard, table)`` hands out ids from the shard's windows.
    :param out: rows per shard and table, appended to (reviews go to the course's shard,
        events to the ``analytics`` key).
    :param events: whether to generate analytics events.
    """
    below = fast_draws(rng)
    rows = out[shard]
    first, last = _FIRST[below(len(_FIRST))], _LAST[below(len(_LAST))]
    created = below(SPAN_SECONDS // 2)
    login = created + 3600 + below(SPAN_SECONDS // 2 - 3600)
    status = _STATUS[bisect(_STATUS_SUMS, rng.random() * _STATUS_SUMS[-1], 0, 3)]
    country = _COUNTRIES[below(len(_COUNTRIES))]
    ip = f"10.{user_id % 250}.{below(256)}.{1 + below(254)}"
    at_created = DAYS[created // 86_400] + CLOCK[created % 86_400]
    rows["users"].append(
        (
            user_id,
            det_uuid(rng),
            f"{first}.{last}.{user_id}@example.com".lower(),
            ts(created + 600) if status != "pending" else None,
            PASSWORD_HASH,
            first,
            last,
            f"{first} {last}",
            role,
            status,
            _TIMEZONES[below(len(_TIMEZONES))],
            _LOCALES[below(len(_LOCALES))],
            ts(login),
            ip,
            1 + below(300),
            at_created,
            at_created,
        )
    )
    rows["user_profiles"].append(
        (
            user_id,
            f"{1965 + below(42)}-{_TWO_DIGITS[1 + below(12)]}-{_TWO_DIGITS[1 + below(28)]}",
            _GENDERS[below(4)],
            country,
            _OCCUPATIONS[below(len(_OCCUPATIONS))],
            _EDUCATION[below(5)],
            _VISIBILITY[below(4)],
            at_created,
            at_created,
        )
    )
    rows["audit_logs"].append(
        (next_id(shard, "audit_logs"), user_id, "create", "users", user_id, ip, at_created)
    )
    for _ in range(_SESSIONS[below(4)]):
        seen = login - below(86_400)
        rows["user_sessions"].append(
            (
                f"{rng.getrandbits(256):064x}",
                user_id,
                ip,
                _DEVICES[below(4)],
                _BROWSERS[below(len(_BROWSERS))],
                _OSES[below(len(_OSES))],
                country,
                _CITIES[below(len(_CITIES))],
                ts(seen - 3600),
                ts(seen),
                ts(seen + 14 * 86_400),
            )
        )
    if rng.random() < 0.3:
        provider = _PROVIDERS[below(5)]
        rows["user_oauth_providers"].append(
            (
                next_id(shard, "user_oauth_providers"),
                user_id,
                provider,
                f"{provider}-{user_id}",
                f"{first}.{user_id}@{provider}.example.com".lower(),
                at_created,
                at_created,
            )
        )
    if not courses:
        return
    n = len(courses)
    picks = rng.sample(range(n), min(n, below(6)))
    enrolled = created
    for index in picks:
        # Strictly increasing per user, so their events' (time, user, type) keys differ.
        enrolled += 3600 + below(86_400 * 10)
        _enrollment(
            rng,
            below,
            user_id,
            shard,
            f"{first} {last}",
            courses[index],
            enrolled,
            next_id,
            out,
            events=events,
        )


def _enrollment(
    rng: random.Random,
    below: Callable[[int], int],
    user_id: int,
    shard: str,
    student: str,
    course: CoursePlan,
    enrolled: int,
    next_id: NextId,
    out: Sinks,
    *,
    events: bool,
) -> None:
    rows = out[shard]
    enrollment_id = next_id(shard, "enrollments")
    total = len(course.lessons)
    progress = _PROGRESS[below(7)]
    done = int(progress * total)
    completed = done == total and total > 0
    paid = course.price != "0.00"
    payment_id = None
    status = "completed" if completed else "active"
    if paid:
        payment_id = next_id(shard, "payments")
        refunded = rng.random() < 0.03
        status = "refunded" if refunded else status
        discount = "100.00" if rng.random() < 0.2 else "0.00"
        amount = f"{float(course.price) - float(discount):.2f}"
        paid_at = ts(enrolled - 60)
        rows["payments"].append(
            (
                payment_id,
                user_id,
                course.id,
                amount,
                "INR",
                course.price,
                discount,
                None if discount == "0.00" else "SAVE01PYT",
                _GATEWAYS[below(3)],
                f"txn_{payment_id}_{user_id}",
                _METHODS[below(5)],
                "refunded" if refunded else "completed",
                f"INV-{payment_id}",
                paid_at,
                ts(enrolled - 120),
                paid_at,
            )
        )
    step = 3600 * 6
    certificate_id = None
    finished = enrolled + step * (total + 1)
    at_finished = DAYS[finished // 86_400] + CLOCK[finished % 86_400]
    if completed and course.has_certificate and status == "completed":
        certificate_id = next_id(shard, "certificates")
        rows["certificates"].append(
            (
                certificate_id,
                user_id,
                course.id,
                enrollment_id,
                f"CERT-{certificate_id}",
                f"{rng.getrandbits(128):032x}",
                student,
                course.title,
                course.instructor_name,
                at_finished[:10],
                _GRADES[60 + below(41)],
                at_finished,
                at_finished,
                at_finished,
            )
        )
    watch = 0
    lessons = course.lessons[: done + (0 if completed else 1)]
    if lessons:
        append = rows["lesson_progress"].append
        at = enrolled
        for i, lesson_id in enumerate(lessons):
            seconds = 60 + below(1141)
            watch += seconds
            at += step
            now = DAYS[at // 86_400] + CLOCK[at % 86_400]
            before = at - 600
            began = DAYS[before // 86_400] + CLOCK[before % 86_400]
            if i < done:
                append(
                    (
                        next_id(shard, "lesson_progress"),
                        user_id,
                        lesson_id,
                        enrollment_id,
                        "completed",
                        "100.00",
                        seconds,
                        now,
                        began,
                        now,
                    )
                )
            else:
                append(
                    (
                        next_id(shard, "lesson_progress"),
                        user_id,
                        lesson_id,
                        enrollment_id,
                        "in_progress",
                        _GRADES[1 + below(99)],
                        seconds,
                        None,
                        began,
                        now,
                    )
                )
    for quiz_id, questions in course.quizzes:
        if done == 0 or rng.random() < 0.4:
            continue
        for attempt in range(1, _ATTEMPTS[below(3)] + 1):
            earned = below(questions + 1)
            pct = 100.0 * earned / questions
            start = enrolled + step * attempt
            at_start = ts(start)
            rows["quiz_attempts"].append(
                (
                    next_id(shard, "quiz_attempts"),
                    quiz_id,
                    user_id,
                    enrollment_id,
                    attempt,
                    f"{questions}.00",
                    f"{earned}.00",
                    f"{pct:.2f}",
                    pct >= 70.0,
                    at_start,
                    ts(start + 300 + attempt),
                    300 + attempt,
                    "graded",
                    at_start,
                    ts(start + 600),
                )
            )
    last_seen = enrolled + step * max(1, done)
    at_last_seen = ts(last_seen)
    at_enrolled = ts(enrolled)
    rows["enrollments"].append(
        (
            enrollment_id,
            user_id,
            course.id,
            "paid" if paid else "free",
            payment_id,
            status,
            f"{100.0 * done / total if total else 0.0:.2f}",
            done,
            total,
            watch,
            at_last_seen,
            at_finished if completed else None,
            at_finished if certificate_id else None,
            certificate_id,
            at_enrolled,
            at_enrolled,
            at_last_seen,
        )
    )
    course.enrollments += 1
    course.completions += int(completed)
    if done * 3 >= total and rng.random() < 0.3:
        rating = _RATINGS[bisect(_RATING_SUMS, rng.random() * _RATING_SUMS[-1], 0, 4)]
        out[course.shard]["course_reviews"].append(
            (
                next_id(course.shard, "course_reviews"),
                course.id,
                user_id,
                enrollment_id,
                rating,
                sentence(rng, 4)[:-1],
                sentence(rng, 20),
                rating,
                max(1, rating - below(2)),
                rating,
                _REVIEW_STATUS[below(3)],
                at_last_seen,
                at_last_seen,
            )
        )
        course.reviews += 1
        course.rating_sum += rating
    if events:
        for n, kind in enumerate(rng.sample(words.EVENT_TYPES, 3)):
            out["analytics"]["user_events"].append(
                (
                    ts(enrolled + 60 * n + 1),
                    user_id,
                    kind,
                    "learning",
                    kind.split("_")[0],
                    course.id,
                    None,
                    _EVENT_DEVICES[below(2)],
                    None,
                )
            )


# Value lists, drawn from by index (``seq[below(len(seq))]`` is ``rng.choice(seq)``), and
# cumulative weights: ``values[bisect(sums, rng.random() * sums[-1], 0, len(values) - 1)]``
# is ``rng.choices(values, weights)[0]``.
_STATUS, _STATUS_SUMS = ("active", "pending", "suspended", "deleted"), (90.0, 96.0, 98.0, 100.0)
_RATINGS, _RATING_SUMS = (1, 2, 3, 4, 5), (3.0, 8.0, 23.0, 60.0, 100.0)
_FIRST, _LAST, _COUNTRIES = words.FIRST_NAMES, words.LAST_NAMES, words.COUNTRIES
_TIMEZONES, _LOCALES, _OCCUPATIONS = words.TIMEZONES, words.LOCALES, words.OCCUPATIONS
_BROWSERS, _OSES, _CITIES = words.BROWSERS, words.OSES, words.CITIES
_GENDERS = ("male", "female", "other", "prefer_not_to_say")
_EDUCATION = ("high_school", "bachelors", "masters", "phd", "other")
_VISIBILITY = ("public", "public", "private", "connections_only")
_SESSIONS = (0, 1, 1, 2)
_DEVICES = ("desktop", "mobile", "tablet", "other")
_PROVIDERS = ("google", "microsoft", "github", "linkedin", "facebook")
_PROGRESS = (0.0, 0.1, 0.3, 0.5, 0.8, 1.0, 1.0)
_GATEWAYS = ("razorpay", "stripe", "paypal")
_METHODS = ("card", "upi", "netbanking", "wallet", "emi")
_ATTEMPTS = (1, 1, 2)
_REVIEW_STATUS = ("approved", "approved", "pending")
_EVENT_DEVICES = ("desktop", "mobile")
_TWO_DIGITS = [f"{n:02d}" for n in range(100)]
#: ``f"{n}.00"`` for grades and progress percentages.
_GRADES = [f"{n}.00" for n in range(101)]
