"""What the evaluation endpoints accept."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

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


# -- Governance ---------------------------------------------------------------------------------------

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
VersionRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=64,
                                              pattern="^[0-9a-fA-F]+$")]


class DraftIn(StrictModel):
    """A new version of a ruleset, as a draft: the YAML source, its test suite and why it changes."""

    source: str = Field(min_length=1, description="the ruleset YAML; its `name` must be the one in the path")
    tests: str | None = Field(default=None, description="the test suite YAML (<name>.tests.yaml); needed to submit")
    change_note: Note | None = None
    parent_version: VersionRef | None = Field(default=None, description="the version this revises; defaults to "
                                                                        "the active one")


class TransitionIn(StrictModel):
    note: Note | None = Field(default=None, description="why; required to reject")


class RollbackIn(StrictModel):
    note: Note = Field(description="why the change is rolled back")
    to_version: VersionRef | None = Field(default=None, description="an earlier approved version; defaults to the "
                                                                    "one the active version replaced")


class SimulationIn(StrictModel):
    since: Timestamp | None = Field(default=None, description="only cases opened at or after this time")
    as_of: Timestamp | None = Field(default=None, description="evaluate every case as of this time; by default "
                                                              "each as of its last event")


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: str
    name: str
    case_type: str
    status: str
    author: str | None
    created_at: datetime
    parent_version: str | None
    change_note: str | None
    submitted_by: str | None
    submitted_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    first_used_at: datetime | None


class SimulationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    version: str
    baseline_version: str | None
    created_at: datetime
    created_by: str
    cases: int
    changed_cases: int
    report: dict[str, Any]


class ReviewOut(VersionOut):
    """Everything a reviewer needs to approve a version: source, gates, findings, impact and changes."""

    source: str
    tests_source: str | None
    test_run: dict[str, Any] | None
    analysis: list[dict[str, Any]] | None
    active_version: str | None
    diff_from_parent: dict[str, Any] | None
    diff_from_active: dict[str, Any] | None
    latest_simulation: SimulationOut | None


class RulesetOut(BaseModel):
    name: str
    case_type: str
    origin: Literal["database", "folder"]
    active_version: str | None
    activated_at: datetime | None
    activated_by: str | None
    versions: int
