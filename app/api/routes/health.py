"""Liveness (/health) and readiness (/ready): no key needed, for load balancers and orchestrators."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import SessionDep
from app.db.schema import current_revision, head_revision
from app.rules.registry import RulesetUnavailable

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    schema_revision: str | None
    expected_revision: str | None
    rulesets: str = Field(description="`ok (<case types>)`, or why the rulesets folder cannot be used")


@router.get("/health", response_model=Health)
def health() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
def ready(session: SessionDep, request: Request) -> JSONResponse:
    """503 unless the database answers and is at the newest migration this code ships, and the active
    rulesets validate."""
    expected = head_revision()
    try:
        current = current_revision(session.connection())
        database = "reachable"
    except SQLAlchemyError:
        current, database = None, "unreachable"
    try:
        governed = request.app.state.rulesets.governed(session=session)
        rulesets = "ok (" + (", ".join(f"{case_type}: {origin}" for case_type, origin in governed.items())
                             or "none") + ")"
        rulesets_ok = True
    except RulesetUnavailable as exc:
        rulesets, rulesets_ok = exc.message, False
    except SQLAlchemyError:
        rulesets, rulesets_ok = "unknown: the database does not answer", False
    ok = database == "reachable" and current == expected and rulesets_ok
    body = Readiness(status="ready" if ok else "not_ready", database=database, schema_revision=current,
                     expected_revision=expected, rulesets=rulesets)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
