"""Trained next-action models: one row per version, and the aliases (champion, challenger) that point at them."""

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONDocument, UTCDateTime, utcnow
from app.models.case import TYPE_LENGTH

ALIASES = ("champion", "challenger")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("case_type", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_type: Mapped[str] = mapped_column(String(TYPE_LENGTH), index=True)
    version: Mapped[str] = mapped_column(String(64))
    # Relative to the artifacts folder: <case_type>/<version>/model.joblib
    path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    sklearn_version: Mapped[str] = mapped_column(String(40))
    training_data_hash: Mapped[str] = mapped_column(String(64))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelAlias(Base):
    __tablename__ = "model_aliases"
    __table_args__ = (CheckConstraint(f"alias IN ({', '.join(repr(a) for a in ALIASES)})", name="alias_known"),)

    case_type: Mapped[str] = mapped_column(String(TYPE_LENGTH), primary_key=True)
    alias: Mapped[str] = mapped_column(String(20), primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
