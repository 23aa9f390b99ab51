"""The audit ledger: append-only, each entry's hash covering its content and the previous entry's hash."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONDocument, UTCDateTime
from app.models.case import ID_LENGTH

HASH_LENGTH = 64


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    # The position in the chain, 1, 2, 3 ...; a gap is a deleted entry.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    case_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
