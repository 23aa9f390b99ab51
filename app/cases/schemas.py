"""What case intake accepts and returns."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from app.core.schemas import Identifier, Name, StrictModel, Timestamp


class CaseIn(StrictModel):
    """A case as a client states it; PUT replaces the stored case with this."""

    case_type: Name = Field(examples=["motor_claim"])
    status: Name = "open"
    attributes: dict[str, Any] = Field(default_factory=dict, examples=[{"amount": 4200, "region": "north"}])
    opened_at: Timestamp | None = Field(default=None, description="defaults to the time of creation")


class EventIn(StrictModel):
    """One entry of a case's history. `event_id` is the client's own, unique within the case."""

    event_id: Identifier
    type: Name = Field(examples=["documents_requested"])
    at: Timestamp
    actor: Identifier | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    def content(self) -> dict[str, Any]:
        """What makes two sends of this event_id the same event."""
        return {"type": self.type, "at": self.at, "actor": self.actor, "attributes": self.attributes}


def _one_or_many(value: Any) -> str:
    return "events" if isinstance(value, list) else "event"


EventsIn = Annotated[
    Annotated[EventIn, Tag("event")] | Annotated[list[EventIn], Tag("events")],
    Discriminator(_one_or_many),
]


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event_id: str
    type: str
    at: datetime
    actor: str | None
    attributes: dict[str, Any]
    recorded_at: datetime


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: str
    case_type: str
    status: str
    attributes: dict[str, Any]
    opened_at: datetime
    event_count: int
    created_at: datetime
    updated_at: datetime


class HistoryPage(BaseModel):
    items: list[EventOut]
    total: int = Field(description="events the case holds in all")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class CaseWithHistory(CaseOut):
    history: HistoryPage


class EventReceipt(BaseModel):
    event_id: str
    status: str = Field(description="`stored`, or `duplicate` when this event_id was already stored as sent")


class AppendResult(BaseModel):
    case_id: str
    stored: int
    duplicates: int
    event_count: int
    events: list[EventReceipt]
