"""The demo claims: deterministic, valid, varied, and shaped enough to teach compliance rules and a ranker."""

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from app.cases.schemas import CaseIn, EventIn
from app.demo.claims import (
    ASSESSORS,
    CASE_TYPE,
    CHANNELS,
    DECISION_SLA,
    DOCUMENT_KINDS,
    EVENT_TYPES,
    FIRST_CONTACT_SLA,
    FRAUD_ANALYSTS,
    FRAUD_INDICATORS,
    HABITS,
    HANDLERS,
    INCIDENT_TYPES,
    INJURY_SEVERITIES,
    OPENED_FROM,
    OPENED_UNTIL,
    REGIONS,
    SLIPS,
    SNAPSHOT_AT,
    STATUSES,
    SUPERVISOR_THRESHOLD,
    SUPERVISORS,
    SYSTEM,
    DemoCase,
    generate_claims,
)

SAMPLE = 2_000
TEAM = {SYSTEM, *HANDLERS, *ASSESSORS, *FRAUD_ANALYSTS, *SUPERVISORS}
DECISIONS = ("claim_approved", "claim_rejected")


@pytest.fixture(scope="module")
def claims() -> list[DemoCase]:
    return list(generate_claims(SAMPLE))


def types(demo: DemoCase) -> list[str]:
    return [event.type for event in demo.events]


def first(demo: DemoCase, *kinds: str) -> EventIn | None:
    return next((event for event in demo.events if event.type in kinds), None)


def share(claims: list[DemoCase], holds: Callable[[DemoCase], bool]) -> float:
    return sum(map(holds, claims)) / len(claims)


# Slips, detected the way a ruleset will detect them.


def payment_during_fraud_check(demo: DemoCase) -> bool:
    checking = False
    for event in demo.events:
        if event.type == "fraud_check_opened":
            checking = True
        elif event.type in ("fraud_check_cleared", "siu_investigation_closed"):
            checking = False
        elif event.type == "payment_issued" and checking:
            return True
    return False


def large_claim_without_supervisor(demo: DemoCase) -> bool:
    if demo.case.attributes["claim_amount"] <= SUPERVISOR_THRESHOLD or "claim_approved" not in types(demo):
        return False
    return types(demo).index("claim_approved") < min_index(types(demo), "supervisor_approved")


def self_approval(demo: DemoCase) -> bool:
    handler = demo.case.attributes["handler"]
    return any(e.type == "supervisor_approved" and e.attributes["approver"] == handler for e in demo.events)


def payment_before_approval(demo: DemoCase) -> bool:
    kinds = types(demo)
    return "payment_issued" in kinds and kinds.index("payment_issued") < min_index(kinds, "claim_approved")


def late_first_contact(demo: DemoCase) -> bool:
    answer = first(demo, "coverage_verified", "claim_rejected")
    return answer is not None and answer.at - demo.events[0].at > FIRST_CONTACT_SLA


def late_decision(demo: DemoCase) -> bool:
    decision = first(demo, *DECISIONS)
    investigated = "fraud_escalated" in types(demo)
    return decision is not None and not investigated and decision.at - demo.events[0].at > DECISION_SLA


def min_index(kinds: list[str], kind: str) -> int:
    return kinds.index(kind) if kind in kinds else len(kinds)


DETECTORS = {detector.__name__: detector for detector in (
    payment_during_fraud_check,
    large_claim_without_supervisor,
    self_approval,
    payment_before_approval,
    late_first_contact,
    late_decision,
)}


# Determinism.


def test_the_same_seed_gives_the_same_claims():
    assert list(generate_claims(40, seed=3)) == list(generate_claims(40, seed=3))


def test_another_seed_gives_other_claims():
    ours, theirs = list(generate_claims(40, seed=3)), list(generate_claims(40, seed=4))
    assert sum(a.case != b.case for a, b in zip(ours, theirs, strict=True)) >= 38
    assert [a.case_id for a in ours] == [b.case_id for b in theirs]


def test_a_claim_does_not_depend_on_how_many_are_generated():
    assert list(generate_claims(10)) == list(generate_claims(200))[:10]


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError, match="count"):
        next(generate_claims(-1))


# Shape.


def test_cases_and_events_validate_and_survive_json(claims):
    for demo in claims:
        assert CaseIn.model_validate(demo.case.model_dump(mode="json")) == demo.case
        assert json.loads(json.dumps(demo.case.attributes)) == demo.case.attributes
        for event in demo.events:
            assert EventIn.model_validate(event.model_dump(mode="json")) == event


def test_cases_open_in_the_window_at_their_first_notice_of_loss(claims):
    for demo in claims:
        assert demo.case_id.startswith("CLM-") and demo.case.case_type == CASE_TYPE
        assert demo.case.opened_at.utcoffset() == timedelta(0)
        assert OPENED_FROM <= demo.case.opened_at < OPENED_UNTIL
        assert demo.events[0].type == "fnol_received" and demo.events[0].at == demo.case.opened_at


def test_histories_are_ordered_named_and_acted_by_the_team(claims):
    for demo in claims:
        ids = [event.event_id for event in demo.events]
        assert len(set(ids)) == len(ids) and all(i.startswith(f"{demo.case_id}-E") for i in ids)
        times = [event.at for event in demo.events]
        assert times == sorted(times) and times[-1] < SNAPSHOT_AT
        assert all(event.at.utcoffset() == timedelta(0) for event in demo.events)
        assert set(types(demo)) <= set(EVENT_TYPES)
        assert {event.actor for event in demo.events} <= TEAM
        assert demo.case.status in STATUSES
        assert types(demo).count("fnol_received") == 1


def test_attributes_use_the_vocabulary(claims):
    for demo in claims:
        a = demo.case.attributes
        assert a["region"] in REGIONS and a["channel"] in CHANNELS and a["incident_type"] in INCIDENT_TYPES
        assert a["injury_severity"] in INJURY_SEVERITIES and (a["injury_severity"] != "none") == a["injury"]
        assert a["handler"] in HANDLERS
        incident = datetime.strptime(a["incident_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert (demo.case.opened_at - incident).days == a["reported_delay_days"]
        assert isinstance(a["claim_amount"], float) and a["claim_amount"] == round(a["claim_amount"], 2)
        for event in demo.events:
            assert set(event.attributes.get("documents", [])) <= set(DOCUMENT_KINDS)
            assert set(event.attributes.get("indicators", [])) <= set(FRAUD_INDICATORS)
            assert 0 <= event.attributes.get("score", 0) <= 1


def test_each_role_does_its_own_work(claims):
    roles = {
        "vehicle_inspected": ASSESSORS,
        "fraud_check_cleared": FRAUD_ANALYSTS,
        "fraud_escalated": FRAUD_ANALYSTS,
        "siu_investigation_closed": FRAUD_ANALYSTS,
    }
    for demo in claims:
        for event in demo.events:
            assert event.actor in roles.get(event.type, TEAM), (demo.case_id, event)
            if event.type == "assessor_assigned":
                assert event.attributes["assessor"] in ASSESSORS


def test_people_work_office_hours_and_the_system_any_time(claims):
    def in_office(event: EventIn) -> bool:
        return event.at.weekday() < 5 and 7 <= event.at.hour < 17

    human = [event for demo in claims for event in demo.events if event.actor != SYSTEM]
    automatic = [event for demo in claims for event in demo.events if event.actor == SYSTEM]
    assert sum(map(in_office, human)) / len(human) >= 0.995
    assert sum(map(in_office, automatic)) / len(automatic) <= 0.7


# Where a claim stands.


def test_status_says_where_the_history_ends(claims):
    for demo in claims:
        kinds, status = types(demo), demo.case.status
        ends = [kind for kind in kinds if kind in ("claim_closed", "claim_reopened")]
        assert (status == "closed") == (ends[-1:] == ["claim_closed"]), demo.case_id
        assert (status == "reopened") == (ends[-1:] == ["claim_reopened"] and kinds[-1] != "claim_rejected")
        if status == "paid":
            assert "payment_issued" in kinds and kinds[-1] != "claim_closed"
        if status == "pending_documents":
            asked = {d for e in demo.events if e.type == "documents_requested" for d in e.attributes["documents"]}
            got = {d for e in demo.events if e.type == "documents_received" for d in e.attributes["documents"]}
            assert asked - got
        if status == "fraud_review":
            assert "fraud_check_opened" in kinds and "fraud_check_cleared" not in kinds


def test_unfinished_claims_are_the_recent_ones(claims):
    unfinished = [demo for demo in claims if demo.case.status != "closed"]
    assert 0.03 <= len(unfinished) / len(claims) <= 0.15
    ages = sorted((SNAPSHOT_AT - demo.case.opened_at).days for demo in unfinished)
    assert ages[len(ages) // 2] <= 45 and ages[-1] <= 200


# Variety and the domain.


def test_paths_are_varied_and_cover_every_activity(claims):
    assert len({tuple(types(demo)) for demo in claims}) >= 30
    assert {kind for demo in claims for kind in types(demo)} == set(EVENT_TYPES)
    lengths = sorted(len(demo.events) for demo in claims)
    assert lengths[len(lengths) // 10] >= 4 and lengths[len(lengths) * 9 // 10] <= 20 and lengths[-1] <= 40


def test_amounts_are_heavy_tailed(claims):
    amounts = sorted(demo.case.attributes["claim_amount"] for demo in claims)
    assert 1_000 <= amounts[len(amounts) // 2] <= 5_000
    assert share(claims, lambda d: 500 <= d.case.attributes["claim_amount"] <= 8_000) >= 0.6
    assert 0.04 <= share(claims, lambda d: d.case.attributes["claim_amount"] > 10_000) <= 0.25
    assert amounts[-1] <= 100_000


def test_documents_follow_the_incident(claims):
    for demo in claims:
        asked = {d for e in demo.events if e.type == "documents_requested" for d in e.attributes["documents"]}
        if not asked or demo.case.attributes["incident_type"] == "glass" or demo.case.status != "closed":
            continue
        assert demo.case.attributes["incident_type"] != "theft" or "police_report" in asked
        assert not demo.case.attributes["injury"] or "medical_report" in asked


def test_handler_habits_show_in_the_paths(claims):
    def calls_first(demo: DemoCase) -> bool:
        return "customer_contacted" in types(demo)[:3]

    callers = [d for d in claims if HABITS[d.case.attributes["handler"]].calls_first]
    others = [d for d in claims if not HABITS[d.case.attributes["handler"]].calls_first]
    assert share(callers, calls_first) >= 0.9 and share(others, calls_first) <= 0.1


def test_fraud_checks_are_driven_by_indicators_and_mostly_cleared(claims):
    checked = [demo for demo in claims if "fraud_check_opened" in types(demo)]
    assert 0.05 <= len(checked) / len(claims) <= 0.3
    assert 0.1 <= share(checked, lambda d: "fraud_escalated" in types(d)) <= 0.5
    flagged = [demo for demo in checked if first(demo, "fraud_check_opened").attributes["indicators"]]
    assert len(flagged) / len(checked) >= 0.8
    for demo in claims:
        if "siu_investigation_closed" in types(demo) and demo.events[-1].type != "siu_investigation_closed":
            finding = first(demo, "siu_investigation_closed").attributes["finding"]
            rejection = first(demo, "claim_rejected")
            reason = rejection.attributes["reason"] if rejection else None
            assert (finding == "confirmed") == (reason == "fraud_confirmed"), demo.case_id


def test_reopenings_are_a_few_percent(claims):
    assert 0.02 <= share(claims, lambda d: "claim_reopened" in types(d)) <= 0.10


def test_large_claims_mostly_get_a_supervisors_sign_off(claims):
    approved = [demo for demo in claims if "claim_approved" in types(demo)]
    large = [demo for demo in approved if demo.case.attributes["claim_amount"] > SUPERVISOR_THRESHOLD]
    assert len(large) >= 100
    assert share(large, lambda d: not large_claim_without_supervisor(d)) >= 0.9
    signed = [e for d in large for e in d.events if e.type == "supervisor_approved"]
    assert sum(e.actor in SUPERVISORS and e.attributes["approver"] == e.actor for e in signed) / len(signed) >= 0.8


@pytest.mark.parametrize("slip", SLIPS)
def test_compliance_slips_exist_but_are_rare(claims, slip):
    assert 0.005 <= share(claims, DETECTORS[slip]) <= 0.05


def test_slips_concentrate_on_sloppy_handlers(claims):
    def slipped(demo: DemoCase) -> bool:
        return any(detector(demo) for detector in DETECTORS.values())

    by_handler = Counter(demo.case.attributes["handler"] for demo in claims if slipped(demo))
    handled = Counter(demo.case.attributes["handler"] for demo in claims)
    rate = {handler: by_handler[handler] / handled[handler] for handler in HANDLERS}
    sloppiest = max(HANDLERS, key=lambda handler: HABITS[handler].sloppiness)
    carefullest = min(HANDLERS, key=lambda handler: HABITS[handler].sloppiness)
    assert rate[sloppiest] > 2 * rate[carefullest]
