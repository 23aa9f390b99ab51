"""What the decision endpoint accepts and returns."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import StrictModel


class DecisionIn(StrictModel):
    """What the case worker did with a suggestion."""

    outcome: Literal["accepted", "overridden", "dismissed"]
    action: str | None = Field(default=None, min_length=1, max_length=100,
                               description="accepted: a shown, available action; overridden: the action taken")
    ad_hoc_description: str | None = Field(default=None, min_length=1, max_length=2000,
                                           description="overridden with an action the catalog does not list: what "
                                                       "the worker did")
    reason_code: str | None = Field(default=None, min_length=1, max_length=60,
                                    description="required to override; one of CASEWISE_OVERRIDE_REASONS")
    comment: str | None = Field(default=None, max_length=5000)
    actor: str = Field(min_length=1, max_length=100, description="the case worker who decided")


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    suggestion_id: str
    case_id: str | None
    case_type: str
    outcome: str
    action: str | None
    ad_hoc: bool
    ad_hoc_description: str | None
    reason_code: str | None
    comment: str | None
    actor: str
    shown_rank: int | None = Field(description="the rank the action was shown at; null when it was not shown")
    shown_propensity: float | None
    decided_at: datetime
