"""Commerce: payments (user keyspace) and coupons (global)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from lms_db.models.base import (
    Base,
    created_at,
    logical_ref,
    table_args,
    timestamp_null,
    updated_at,
)
from lms_db.models.partitions import yearly_range
from lms_db.models.types import BigUnsigned, Enum, IntUnsigned, Json, Timestamp

PAYMENTS_PARTITION = yearly_range(
    "YEAR(created_at)",
    "created_at",
    range(2024, 2027),
    reason=(
        "primary key id and unique key invoice_number lack created_at; payments has a "
        "foreign key to users; YEAR() on a TIMESTAMP column"
    ),
)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = table_args(
        sa.Index("idx_payments_course_id", "course_id"),
        sa.Index("idx_payments_status", "status"),
        sa.Index("idx_payments_gateway_transaction", "gateway_transaction_id"),
        sa.Index("idx_payments_created_at", "created_at"),
        sa.Index("idx_payments_user_status_date", "user_id", "status", "created_at"),
        keyspace="user",
        shard_key="user_id",
        partition=PAYMENTS_PARTITION,
        redundant_seed_indexes={"idx_user_id": "idx_payments_user_status_date (user_id, ...)"},
    )

    id: Mapped[int] = mapped_column(BigUnsigned, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigUnsigned, sa.ForeignKey("users.id"), nullable=False)
    course_id: Mapped[int] = mapped_column(
        BigUnsigned, nullable=False, info=logical_ref("courses.id")
    )
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), nullable=False)
    currency: Mapped[str | None] = mapped_column(sa.CHAR(3), server_default="INR")
    original_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    discount_amount: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(10, 2), server_default=sa.text("0.00")
    )
    coupon_code: Mapped[str | None] = mapped_column(sa.String(50))
    payment_gateway: Mapped[str] = mapped_column(
        Enum("payment_gateway", "razorpay", "stripe", "paypal", "manual"), nullable=False
    )
    gateway_transaction_id: Mapped[str | None] = mapped_column(sa.String(255))
    gateway_order_id: Mapped[str | None] = mapped_column(sa.String(255))
    payment_method: Mapped[str] = mapped_column(
        Enum("payment_method", "card", "upi", "netbanking", "wallet", "emi"), nullable=False
    )
    status: Mapped[str | None] = mapped_column(
        Enum("status", "pending", "processing", "completed", "failed", "refunded", "cancelled"),
        server_default="pending",
    )
    payment_metadata: Mapped[Any | None] = mapped_column(Json)  # gateway response
    refund_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2), nullable=True)
    refund_reason: Mapped[str | None] = mapped_column(sa.Text)
    refunded_at: Mapped[datetime | None] = timestamp_null()
    refunded_by: Mapped[int | None] = mapped_column(
        BigUnsigned, nullable=True, info=logical_ref("users.id")
    )
    invoice_number: Mapped[str | None] = mapped_column(sa.String(50), unique=True)
    invoice_url: Mapped[str | None] = mapped_column(sa.String(500))
    paid_at: Mapped[datetime | None] = timestamp_null()
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = table_args(
        sa.Index("idx_coupons_active", "is_active"),
        sa.Index("idx_coupons_valid_until", "valid_until"),
        keyspace="global",
        redundant_seed_indexes={"idx_code": "UNIQUE (code) uq_coupons_code"},
    )

    id: Mapped[int] = mapped_column(IntUnsigned, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(sa.String(50), nullable=False, unique=True)
    discount_type: Mapped[str] = mapped_column(
        Enum("discount_type", "percentage", "fixed_amount"), nullable=False
    )
    discount_value: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), nullable=False)
    max_discount_amount: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(10, 2), nullable=True
    )  # percentage discounts
    applicable_to: Mapped[str | None] = mapped_column(
        Enum("applicable_to", "all_courses", "specific_courses", "categories"),
        server_default="all_courses",
    )
    course_ids: Mapped[Any | None] = mapped_column(Json)  # array of course ids
    category_ids: Mapped[Any | None] = mapped_column(Json)  # array of category ids
    max_uses: Mapped[int | None] = mapped_column(IntUnsigned, nullable=True)  # NULL: unlimited
    max_uses_per_user: Mapped[int | None] = mapped_column(IntUnsigned, server_default=sa.text("1"))
    current_uses: Mapped[int | None] = mapped_column(IntUnsigned, server_default=sa.text("0"))
    valid_from: Mapped[datetime | None] = mapped_column(
        Timestamp, nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
    )
    valid_until: Mapped[datetime | None] = timestamp_null()
    min_purchase_amount: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(10, 2), server_default=sa.text("0.00")
    )
    is_active: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.true())
    created_by: Mapped[int | None] = mapped_column(BigUnsigned, info=logical_ref("users.id"))
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()
