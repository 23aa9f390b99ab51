"""Ruleset versions and their lifecycle, the active version of each case type, and impact simulations.

A version is identified by the sha256 of its source text, the version every suggestion and evaluation
records, so any past evaluation can be repeated exactly. Versions served from the rulesets folder
before anyone governed them are kept too (status `unmanaged`).
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONDocument, UTCDateTime
from app.models.case import TYPE_LENGTH

ACTOR_LENGTH = 100


class RulesetStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    ACTIVE = "active"
    RETIRED = "retired"
    UNMANAGED = "unmanaged"  # served from the rulesets folder, never reviewed


class RulesetVersion(Base):
    __tablename__ = "ruleset_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(TYPE_LENGTH), index=True)
    case_type: Mapped[str] = mapped_column(String(TYPE_LENGTH), index=True)
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=RulesetStatus.UNMANAGED.value)
    author: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    parent_version: Mapped[str | None] = mapped_column(String(64))
    change_note: Mapped[str | None] = mapped_column(Text)
    tests_source: Mapped[str | None] = mapped_column(Text)
    # The gate run at submission: {"passed", "tests": [...], "coverage", "unfired"}.
    test_run: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    # Static analysis findings, computed when the version is created.
    analysis: Mapped[list[Any] | None] = mapped_column(JSONDocument, nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RulesetActivation(Base):
    """The version that governs a case type: a pointer that moves forward on activation, back on rollback."""

    __tablename__ = "ruleset_activations"

    case_type: Mapped[str] = mapped_column(String(TYPE_LENGTH), primary_key=True)
    version: Mapped[str] = mapped_column(ForeignKey("ruleset_versions.version"))
    previous_version: Mapped[str | None] = mapped_column(String(64))
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    activated_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))


class RulesetSimulation(Base):
    """One impact simulation of a version against the version active when it ran; the report kept whole."""

    __tablename__ = "ruleset_simulations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(ForeignKey("ruleset_versions.version"), index=True)
    baseline_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    cases: Mapped[int] = mapped_column(Integer)
    changed_cases: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
