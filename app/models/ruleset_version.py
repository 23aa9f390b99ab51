"""Every ruleset version that ever judged a case, kept whole so that any past suggestion can be replayed."""

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime
from app.models.case import TYPE_LENGTH


class RulesetVersion(Base):
    __tablename__ = "ruleset_versions"

    # sha256 of the source text: the version every suggestion and evaluation records.
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(TYPE_LENGTH))
    case_type: Mapped[str] = mapped_column(String(TYPE_LENGTH), index=True)
    source: Mapped[str] = mapped_column(Text)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
