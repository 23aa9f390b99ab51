"""What a case worker did with a suggestion: one decision per suggestion, kept for audit and retraining."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow
from app.models.case import ID_LENGTH, TYPE_LENGTH

OUTCOMES = ("accepted", "overridden", "dismissed")


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (CheckConstraint(f"outcome IN ({', '.join(repr(o) for o in OUTCOMES)})", name="outcome_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # One decision per suggestion: the unique constraint is what makes a concurrent second decision a conflict.
    suggestion_id: Mapped[str] = mapped_column(String(36), ForeignKey("suggestions.suggestion_id"), unique=True)
    case_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    case_type: Mapped[str] = mapped_column(String(TYPE_LENGTH), index=True)
    outcome: Mapped[str] = mapped_column(String(12))
    action: Mapped[str | None] = mapped_column(String(TYPE_LENGTH))
    # True when the worker took an action the catalog does not list, described in `ad_hoc_description`.
    ad_hoc: Mapped[bool] = mapped_column(default=False)
    ad_hoc_description: Mapped[str | None] = mapped_column(Text)
    reason_code: Mapped[str | None] = mapped_column(String(60))
    comment: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    # The rank and propensity with which the chosen action was shown (null when it was not shown).
    shown_rank: Mapped[int | None]
    shown_propensity: Mapped[float | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # sha256 of the decision as requested: a retry carries the same one.
    request_hash: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(100))
