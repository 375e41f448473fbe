"""Sample data, user side: a user with profile, sessions, oauth links and audit row, and
their enrollments with lesson progress, quiz attempts, payments, certificates, reviews (on
the course's shard) and analytics events.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from lms_db.sample import words
from lms_db.sample.courses import SPAN_SECONDS, CoursePlan, NextId, Rows, det_uuid, sentence, ts

COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "uuid", "email", "email_verified_at", "password_hash", "first_name",
              "last_name", "display_name", "role", "status", "timezone", "locale",
              "last_login_at", "last_login_ip", "login_count", "created_at", "updated_at"),
    "user_profiles": ("user_id", "date_of_birth", "gender", "country_code", "occupation",
                      "education_level", "profile_visibility", "created_at", "updated_at"),
    "user_sessions": ("id", "user_id", "ip_address", "device_type", "browser", "os",
                      "country_code", "city", "created_at", "last_activity_at", "expires_at"),
    "user_oauth_providers": ("id", "user_id", "provider", "provider_user_id", "provider_email",
                             "created_at", "updated_at"),
    "audit_logs": ("id", "user_id", "action", "table_name", "record_id", "ip_address",
                   "created_at"),
    "enrollments": ("id", "user_id", "course_id", "enrollment_type", "payment_id", "status",
                    "progress_percentage", "completed_lessons", "total_lessons",
                    "total_watch_time_seconds", "last_accessed_at", "completed_at",
                    "certificate_issued_at", "certificate_id", "enrolled_at", "created_at",
                    "updated_at"),
    "lesson_progress": ("id", "user_id", "lesson_id", "enrollment_id", "status",
                        "progress_percentage", "watch_time_seconds", "completed_at",
                        "created_at", "updated_at"),
    "quiz_attempts": ("id", "quiz_id", "user_id", "enrollment_id", "attempt_number",
                      "total_points", "earned_points", "percentage", "passed", "started_at",
                      "submitted_at", "time_taken_seconds", "status", "created_at",
                      "updated_at"),
    "payments": ("id", "user_id", "course_id", "amount", "currency", "original_amount",
                 "discount_amount", "coupon_code", "payment_gateway", "gateway_transaction_id",
                 "payment_method", "status", "invoice_number", "paid_at", "created_at",
                 "updated_at"),
    "certificates": ("id", "user_id", "course_id", "enrollment_id", "certificate_number",
                     "verification_code", "student_name", "course_title", "instructor_name",
                     "completion_date", "grade", "verified_at", "created_at", "updated_at"),
    "course_reviews": ("id", "course_id", "user_id", "enrollment_id", "rating", "title",
                       "review_text", "content_rating", "instructor_rating", "value_rating",
                       "status", "created_at", "updated_at"),
    "user_events": ("time", "user_id", "event_type", "event_category", "event_action",
                    "course_id", "session_id", "device_type", "country_code"),
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
    out: dict[str, Rows],
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
    rows = out[shard]
    first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
    created = rng.randrange(0, SPAN_SECONDS // 2)
    login = created + rng.randrange(3600, SPAN_SECONDS // 2)
    status = rng.choices(("active", "pending", "suspended", "deleted"), (90, 6, 2, 2))[0]
    country = rng.choice(words.COUNTRIES)
    ip = f"10.{user_id % 250}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    rows["users"].append((
        user_id, det_uuid(rng), f"{first}.{last}.{user_id}@example.com".lower(),
        ts(created + 600) if status != "pending" else None, PASSWORD_HASH, first, last,
        f"{first} {last}", role, status, rng.choice(words.TIMEZONES), rng.choice(words.LOCALES),
        ts(login), ip, rng.randint(1, 300), ts(created), ts(created),
    ))
    rows["user_profiles"].append((
        user_id, f"{rng.randint(1965, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        rng.choice(("male", "female", "other", "prefer_not_to_say")), country,
        rng.choice(words.OCCUPATIONS),
        rng.choice(("high_school", "bachelors", "masters", "phd", "other")),
        rng.choice(("public", "public", "private", "connections_only")), ts(created), ts(created),
    ))
    rows["audit_logs"].append((next_id(shard, "audit_logs"), user_id, "create", "users",
                               user_id, ip, ts(created)))
    for _ in range(rng.choice((0, 1, 1, 2))):
        seen = login - rng.randrange(0, 86_400)
        rows["user_sessions"].append((
            f"{rng.getrandbits(256):064x}", user_id, ip,
            rng.choice(("desktop", "mobile", "tablet", "other")), rng.choice(words.BROWSERS),
            rng.choice(words.OSES), country, rng.choice(words.CITIES), ts(seen - 3600), ts(seen),
            ts(seen + 14 * 86_400),
        ))
    if rng.random() < 0.3:
        provider = rng.choice(("google", "microsoft", "github", "linkedin", "facebook"))
        rows["user_oauth_providers"].append((
            next_id(shard, "user_oauth_providers"), user_id, provider, f"{provider}-{user_id}",
            f"{first}.{user_id}@{provider}.example.com".lower(), ts(created), ts(created),
        ))
    if not courses:
        return
    picks = rng.sample(range(len(courses)), min(len(courses), rng.choice((0, 1, 2, 3, 4, 5))))
    enrolled = created
    for index in picks:
        # Strictly increasing per user, so their events' (time, user, type) keys differ.
        enrolled += 3600 + rng.randrange(0, 86_400 * 10)
        _enrollment(rng, user_id, shard, f"{first} {last}", courses[index], enrolled, next_id,
                    out, events=events)


def _enrollment(
    rng: random.Random, user_id: int, shard: str, student: str, course: CoursePlan,
    enrolled: int, next_id: NextId, out: dict[str, Rows], *, events: bool,
) -> None:
    rows = out[shard]
    enrollment_id = next_id(shard, "enrollments")
    total = len(course.lessons)
    progress = rng.choice((0.0, 0.1, 0.3, 0.5, 0.8, 1.0, 1.0))
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
        rows["payments"].append((
            payment_id, user_id, course.id, amount, "INR", course.price, discount,
            None if discount == "0.00" else "SAVE01PYT",
            rng.choice(("razorpay", "stripe", "paypal")), f"txn_{payment_id}_{user_id}",
            rng.choice(("card", "upi", "netbanking", "wallet", "emi")),
            "refunded" if refunded else "completed", f"INV-{payment_id}", ts(enrolled - 60),
            ts(enrolled - 120), ts(enrolled - 60),
        ))
    step = 3600 * 6
    certificate_id = None
    finished = enrolled + step * (total + 1)
    if completed and course.has_certificate and status == "completed":
        certificate_id = next_id(shard, "certificates")
        rows["certificates"].append((
            certificate_id, user_id, course.id, enrollment_id, f"CERT-{certificate_id}",
            f"{rng.getrandbits(128):032x}", student, course.title, course.instructor_name,
            ts(finished)[:10], f"{rng.randint(60, 100)}.00", ts(finished), ts(finished),
            ts(finished),
        ))
    watch = 0
    for i, lesson_id in enumerate(course.lessons[: done + (0 if completed else 1)]):
        finished_lesson = i < done
        seconds = rng.randint(60, 1200)
        watch += seconds
        at = enrolled + step * (i + 1)
        rows["lesson_progress"].append((
            next_id(shard, "lesson_progress"), user_id, lesson_id, enrollment_id,
            "completed" if finished_lesson else "in_progress",
            "100.00" if finished_lesson else f"{rng.randint(1, 99)}.00", seconds,
            ts(at) if finished_lesson else None, ts(at - 600), ts(at),
        ))
    for quiz_id, questions in course.quizzes:
        if done == 0 or rng.random() < 0.4:
            continue
        for attempt in range(1, rng.choice((1, 1, 2)) + 1):
            earned = rng.randint(0, questions)
            pct = 100.0 * earned / questions
            start = enrolled + step * attempt
            rows["quiz_attempts"].append((
                next_id(shard, "quiz_attempts"), quiz_id, user_id, enrollment_id, attempt,
                f"{questions}.00", f"{earned}.00", f"{pct:.2f}", pct >= 70.0, ts(start),
                ts(start + 300 + attempt), 300 + attempt, "graded", ts(start), ts(start + 600),
            ))
    last_seen = enrolled + step * max(1, done)
    rows["enrollments"].append((
        enrollment_id, user_id, course.id, "paid" if paid else "free", payment_id, status,
        f"{100.0 * done / total if total else 0.0:.2f}", done, total, watch, ts(last_seen),
        ts(finished) if completed else None, ts(finished) if certificate_id else None,
        certificate_id, ts(enrolled), ts(enrolled), ts(last_seen),
    ))
    course.enrollments += 1
    course.completions += int(completed)
    if done * 3 >= total and rng.random() < 0.3:
        rating = rng.choices((1, 2, 3, 4, 5), (3, 5, 15, 37, 40))[0]
        out[course.shard]["course_reviews"].append((
            next_id(course.shard, "course_reviews"), course.id, user_id, enrollment_id, rating,
            sentence(rng, 4)[:-1], sentence(rng, 20), rating, max(1, rating - rng.randint(0, 1)),
            rating, rng.choice(("approved", "approved", "pending")), ts(last_seen),
            ts(last_seen),
        ))
        course.reviews += 1
        course.rating_sum += rating
    if events:
        for n, kind in enumerate(rng.sample(words.EVENT_TYPES, 3)):
            out["analytics"]["user_events"].append((
                ts(enrolled + 60 * n + 1), user_id, kind, "learning", kind.split("_")[0],
                course.id, None, rng.choice(("desktop", "mobile")), None,
            ))
