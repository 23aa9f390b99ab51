"""What the evaluation endpoints accept."""

from pydantic import Field, model_validator

from app.cases.schemas import CaseIn, EventIn
from app.core.schemas import Identifier, StrictModel, Timestamp


class EvaluationRequest(StrictModel):
    as_of: Timestamp | None = Field(default=None, description="evaluation time; defaults to now")


class InlineCase(CaseIn):
    case_id: Identifier = "inline"


class InlineEvaluationRequest(StrictModel):
    """A case and its events, evaluated without storing anything."""

    case: InlineCase
    events: list[EventIn] = Field(default_factory=list)
    as_of: Timestamp | None = Field(default=None, description="evaluation time; defaults to now")

    @model_validator(mode="after")
    def _distinct_event_ids(self) -> "InlineEvaluationRequest":
        seen: set[str] = set()
        for event in self.events:
            if event.event_id in seen:
                raise ValueError(f"event_id {event.event_id!r} appears twice; each event needs its own id")
            seen.add(event.event_id)
        return self
