"""Cases and their append-only event history."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONDocument, UTCDateTime, utcnow

ID_LENGTH = 200
TYPE_LENGTH = 100


class Case(Base):
    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    case_type: Mapped[str] = mapped_column(String(TYPE_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(50))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Kept in step with case_events under the case row's lock, so limits need no COUNT(*).
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CaseEvent(Base):
    __tablename__ = "case_events"
    __table_args__ = (
        UniqueConstraint("case_id", "event_id"),
        Index("ix_case_events_case_id_at_id", "case_id", "at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    type: Mapped[str] = mapped_column(String(TYPE_LENGTH))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    # sha256 of the event's canonical content: a resend is recognised as the same or as a conflict.
    content_hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
