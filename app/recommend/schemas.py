"""What the suggestion endpoints accept and return."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.rules.outcome import CheckpointOut, FlagOut
from app.rules.schemas import EvaluationRequest, InlineEvaluationRequest


class SuggestionRequest(EvaluationRequest):
    """Suggest next actions for a stored case, as of `as_of` (default: now)."""


class InlineSuggestionRequest(InlineEvaluationRequest):
    """Suggest next actions for a case sent whole in the request; the suggestion itself is stored."""


class ReasonOut(BaseModel):
    kind: Literal["rule", "feature", "ranker"]
    text: str
    rule_id: str | None = None
    feature: str | None = None
    weight: float | None = None


class ShownActionOut(BaseModel):
    action: str
    label: str
    status: Literal["required", "available", "blocked"]
    rank: int
    score: float = Field(description="the ranker's probability that this is the next action")
    propensity: float = Field(description="the probability with which the policy showed this action at this rank")
    reasons: list[ReasonOut]
    blocked_by: list[str] = Field(description="open checkpoints blocking the action")


class SuggestionOut(BaseModel):
    suggestion_id: str
    case_id: str | None
    case_type: str
    as_of: datetime
    ruleset: str | None = Field(description="null when no ruleset governs the case type")
    ruleset_version: str | None
    model_version: str | None = Field(description="null when no trained model ranked the actions")
    ranker: str = Field(description="`model`, or the baseline used when the case type has no model yet")
    note: str | None
    actions: list[ShownActionOut]
    flags: list[FlagOut]
    checkpoints: list[CheckpointOut]


class ReplayChanges(BaseModel):
    ruleset: bool = Field(description="the active ruleset version differs from the recorded one")
    model: bool = Field(description="the champion model differs from the recorded one")
    actions: bool = Field(description="the active versions would show other actions, or in another order")


class ReplayOut(BaseModel):
    suggestion_id: str
    identical: bool = Field(description="whether `replayed` equals the stored response, byte for byte as JSON")
    replayed: SuggestionOut
    current: SuggestionOut
    changed: ReplayChanges
