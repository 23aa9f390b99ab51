"""Suggestions as served: immutable, with everything needed to replay them exactly."""

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONDocument, UTCDateTime, utcnow
from app.models.case import ID_LENGTH, TYPE_LENGTH


class Suggestion(Base):
    __tablename__ = "suggestions"

    suggestion_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Null for a case sent inline; the snapshot below holds what was evaluated either way.
    case_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    case_type: Mapped[str] = mapped_column(String(TYPE_LENGTH))
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    # Null when no ruleset governs the case type.
    ruleset: Mapped[str | None] = mapped_column(String(TYPE_LENGTH))
    ruleset_version: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[str | None] = mapped_column(String(64))
    # The policy's settings and every action's score: with the suggestion id (the seed) they replay the choice.
    policy: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    # Shadow mode: how the challenger would have ranked this case (never shown); null without a challenger.
    shadow: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    # sha256 of the canonical JSON of the case snapshot: the inputs, fingerprinted.
    inputs_hash: Mapped[str] = mapped_column(String(64))
    case_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    response: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    requested_by: Mapped[str] = mapped_column(String(100))
