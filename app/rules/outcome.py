"""What an evaluation returns: flags, checkpoints, action constraints, derived facts and a trace."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class FlagOut(BaseModel):
    code: str
    severity: Literal["info", "warning", "critical"]
    message: str
    rule_id: str


class CheckpointOut(BaseModel):
    id: str
    status: Literal["open", "satisfied"]
    blocks: list[str] = Field(description="actions blocked while the checkpoint is open")
    message: str
    rule_id: str
    open_instances: int = Field(description="matches of the rule not yet satisfied")
    instances: int


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule_id: str
    reason: str


class ActionConstraintOut(BaseModel):
    action: str
    reasons: list[Reason]


class RecommendationOut(BaseModel):
    action: str
    weight: float = Field(description="the sum of the recommending rules' weights")
    reasons: list[Reason]


class ConflictOut(BaseModel):
    action: str
    required_by: list[str]
    forbidden_by: list[str]
    resolution: Literal["required", "forbidden"]


class DerivedFactOut(BaseModel):
    type: str
    key: str
    fields: dict[str, Any]
    rule_id: str


class Firing(BaseModel):
    rule_id: str
    ruleset_version: str
    matched: dict[str, str] = Field(description="each name the rule binds, and the fact bound to it")


class RuleOutcome(BaseModel):
    """The complete result of evaluating one case under one ruleset version."""

    ruleset: str
    ruleset_version: str
    case_id: str
    as_of: datetime
    flags: list[FlagOut]
    checkpoints: list[CheckpointOut]
    required_actions: list[ActionConstraintOut]
    forbidden_actions: list[ActionConstraintOut]
    recommended_actions: list[RecommendationOut]
    blocked_actions: dict[str, list[str]] = Field(description="action -> the open checkpoints blocking it")
    conflicts: list[ConflictOut]
    derived_facts: list[DerivedFactOut]
    trace: list[Firing]
