"""What the audit endpoints return."""

from typing import Any

from pydantic import BaseModel, Field


class AuditEntryOut(BaseModel):
    seq: int
    at: str
    kind: str = Field(description="suggestion.served, decision.recorded, key.created, key.revoked, "
                                  "model.registered, model.alias_moved, ruleset.first_used")
    actor: str
    case_id: str | None
    subject: str | None
    content: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None


class VerificationOut(BaseModel):
    ok: bool
    entries: int = Field(description="entries read before the first bad one, or all of them")
    first_bad_seq: int | None
    problem: str | None
