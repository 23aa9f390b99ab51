"""The case service below the API."""

from app.cases.schemas import CaseIn
from app.cases.service import case_data, store_case
from tests.factories import case_body


def test_a_case_without_events_is_stored_on_every_backend(session):
    created, appended = store_case(session=session, case_id="EMPTY-1", data=CaseIn(**case_body()), events=[],
                                   max_history=10)
    assert created and (appended.stored, appended.event_count) == (0, 0)
    assert case_data(session=session, case_id="EMPTY-1").events == ()
