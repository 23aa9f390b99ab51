"""The audit ledger for auditors: entries filtered and paged, exported, and verified."""

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from app.api.deps import Auditor, SessionDep
from app.audit import ledger
from app.audit.schemas import AuditPage, VerificationOut
from app.core.schemas import ErrorResponse, Timestamp

router = APIRouter(prefix="/v1/audit", tags=["audit"],
                   responses={code: {"model": ErrorResponse} for code in (401, 403, 422)})

EXPORT_COLUMNS = ("seq", "at", "kind", "actor", "case_id", "subject", "content", "prev_hash", "hash")


@router.get("", response_model=AuditPage,
            responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
def entries(session: SessionDep, principal: Auditor,
            case_id: Annotated[str | None, Query(max_length=200)] = None,
            kind: Annotated[str | None, Query(max_length=40)] = None,
            actor: Annotated[str | None, Query(max_length=100)] = None,
            since: Annotated[Timestamp | None, Query()] = None,
            until: Annotated[Timestamp | None, Query()] = None,
            limit: Annotated[int, Query(gt=0, le=1000)] = 100,
            cursor: Annotated[str | None, Query(max_length=200)] = None,
            format: Annotated[Literal["json", "csv", "jsonl"], Query()] = "json"):  # noqa: A002 (the API's word)
    """Ledger entries in chain order, filtered; `format=csv` or `jsonl` exports the page as a file."""
    page = ledger.search(session=session, case_id=case_id, kind=kind, actor=actor, since=since, until=until,
                         limit=limit, cursor=cursor)
    rows = [entry_dict(entry) for entry in page.entries]
    if format == "jsonl":
        text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
        return PlainTextResponse(text, media_type="application/x-ndjson", headers=_next(page.next_cursor))
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows({**row, "content": json.dumps(row["content"], sort_keys=True)} for row in rows)
        return PlainTextResponse(buffer.getvalue(), media_type="text/csv", headers=_next(page.next_cursor))
    return AuditPage(entries=rows, next_cursor=page.next_cursor)


@router.get("/verify", response_model=VerificationOut)
def verify(session: SessionDep, principal: Auditor) -> dict:
    """Walk the whole chain: whether it is intact, and otherwise the first bad entry and what is wrong with it."""
    return ledger.verify(session=session).to_dict()


def entry_dict(entry) -> dict:
    return {column: (getattr(entry, column).isoformat() if isinstance(getattr(entry, column), datetime)
                     else getattr(entry, column)) for column in EXPORT_COLUMNS}


def _next(cursor: str | None) -> dict[str, str]:
    return {"X-Next-Cursor": cursor} if cursor else {}
