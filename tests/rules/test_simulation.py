"""Impact simulation: a candidate ruleset replayed over stored cases, checked against cases evaluated one by one.

The simulation opens its own connections, so the cases are committed for real, under a case type unique to
this module, and deleted afterwards.
"""

import random
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from app.cases.schemas import CaseIn, EventIn
from app.cases.service import append_events, case_data, case_ids_of_type, load_cases, upsert_case
from app.db.session import session_scope
from app.demo.claims import generate_claims
from app.demo.seed import store_demo_case
from app.models import Case, CaseEvent
from app.rules.model import Ruleset
from app.rules.outcome import OUTCOME_ASPECTS, RuleOutcome
from app.rules.registry import evaluator_for
from app.rules.simulation import COMPARED_ASPECTS, SimulationReport, simulate
from app.rules.validator import load_ruleset, load_ruleset_file
from tests.rules.fixtures import CLAIMS, T0

CLAIMS_STORED = 300
MOTOR = load_ruleset_file(Path(__file__).parents[2] / "rulesets" / "motor_claim.yaml")


def rule_block(text: str, rule_id: str) -> tuple[int, int]:
    """Where a rule's YAML starts and ends in a ruleset's text."""
    start = text.index(f"  - id: {rule_id}\n")
    end = text.find("\n  - id: ", start + 1)
    return start, (len(text) if end < 0 else end + 1)


def edited(text: str, rule_id: str, old: str | None = None, new: str = "") -> str:
    """The text with `old` replaced by `new` inside one rule, or the whole rule dropped when `old` is None."""
    start, end = rule_block(text, rule_id)
    block = text[start:end]
    assert old is None or old in block
    return text[:start] + ("" if old is None else block.replace(old, new, 1)) + text[end:]


NEW_RULE = """
  - id: elevated_fraud_risk_noted
    when:
      - fraud_risk: {as: risk, level: elevated}
    then:
      - flag: {code: elevated_fraud_risk, severity: info, message: "Fraud risk: {risk.reason}"}
"""


def motor_candidate(extra_rule: str = "") -> Ruleset:
    """Lower sign-off threshold; a rule dropped; changed rules that assert a derived fact and that read one two
    levels up; a new rule reading a derived fact only unchanged rules produce (so the simulation's screening
    must follow derivations); optionally one more rule."""
    text = edited(MOTOR.source, "large_claim_needs_supervisor", "{gt: 10000}", "{gt: 5000}")
    text = edited(text, "coverage_verification_late")
    text = edited(text, "fraud_risk_from_score", "score: {gte: 0.5}", "score: {gte: 0.3}")
    text = edited(text, "siu_referral_outstanding", "action: fraud_escalated", "action: customer_contacted")
    return load_ruleset(text.rstrip("\n") + "\n" + NEW_RULE + extra_rule, source="<candidate>")


FAILING_RULE = """
  - id: quotes_a_missing_field
    when:
      - case: {claim_amount: {gt: 30000}}
      - event: {as: fnol, type: fnol_received}
    then:
      - flag: {code: big, message: "assessed by {fnol.assessor}"}
"""


@pytest.fixture(scope="module")
def claims(database) -> Iterator[str]:
    """CLAIMS_STORED demo claims committed under a case type of their own; yields the case type."""
    case_type = f"sim_motor_{uuid.uuid4().hex[:8]}"
    with session_scope(database.engine) as session:
        for demo in generate_claims(CLAIMS_STORED):
            demo = replace(demo, case_id=f"{case_type}-{demo.case_id}",
                           case=demo.case.model_copy(update={"case_type": case_type}))
            store_demo_case(session=session, demo=demo, max_history=10_000)
        session.commit()
    yield case_type
    remove(database, case_type)


def remove(database, case_type: str) -> None:
    with session_scope(database.engine) as session:
        ids = select(Case.case_id).where(Case.case_type == case_type)
        session.execute(delete(CaseEvent).where(CaseEvent.case_id.in_(ids)))
        session.execute(delete(Case).where(Case.case_type == case_type))
        session.commit()


def one_by_one(database, case_type: str, candidate: Ruleset, baseline: Ruleset | None,
               since: datetime | None = None, as_of: datetime | None = None) -> dict:
    """Differences and rule counts from each case read with case_data and evaluated alone under each version."""
    differences, before_counts, after_counts, cases = {}, Counter(), Counter(), 0
    with session_scope(database.engine) as session:
        stored = session.scalars(select(Case.case_id).where(Case.case_type == case_type)).all()
        for case_id in sorted(stored):
            case = case_data(session=session, case_id=case_id)
            if since and case.opened_at < since:
                continue
            cases += 1
            moment = as_of or max((event.at for event in case.events), default=case.opened_at)
            before = (evaluator_for(baseline).evaluate(case, as_of=moment) if baseline
                      else RuleOutcome.ungoverned(case_id, moment))
            after = evaluator_for(candidate).evaluate(case, as_of=moment)
            changes = {}
            for aspect in COMPARED_ASPECTS:
                old, new = OUTCOME_ASPECTS[aspect](before), OUTCOME_ASPECTS[aspect](after)
                if old != new:
                    changes[aspect] = {"added": sorted(new - old), "removed": sorted(old - new)}
            if changes:
                differences[case_id] = {"case_id": case_id, "as_of": moment.isoformat(), **changes}
            before_counts.update(OUTCOME_ASPECTS["fired"](before))
            after_counts.update(OUTCOME_ASPECTS["fired"](after))
    return {"cases": cases, "differences": [differences[case_id] for case_id in sorted(differences)],
            "before": before_counts, "after": after_counts}


def comparable(report: SimulationReport) -> dict:
    data = report.to_dict()
    del data["elapsed_s"], data["n_jobs"]
    return data


def test_load_cases_reads_what_case_data_reads(database, claims):
    with session_scope(database.engine) as session:
        case_ids = case_ids_of_type(session=session, case_type=claims)
        assert len(case_ids) == CLAIMS_STORED and case_ids == sorted(case_ids)
        picked = [case_ids[5], case_ids[0], "no such case", case_ids[-1]]
        loaded = load_cases(session=session, case_ids=picked)
        assert loaded == [case_data(session=session, case_id=case_id) for case_id in picked if case_id in case_ids]


def test_differences_and_rule_counts_equal_evaluating_each_case_alone(database, claims):
    candidate = motor_candidate()
    calls = []
    report = simulate(database_url=database.url, case_type=claims, candidate=candidate, baseline=MOTOR, n_jobs=1,
                      progress=lambda done, total: calls.append((done, total)))
    expected = one_by_one(database, claims, candidate, MOTOR)
    data = report.to_dict()
    assert data["cases"] == expected["cases"] == CLAIMS_STORED
    assert data["differences"] == expected["differences"]
    assert data["changed_cases"] == len(expected["differences"]) > 0
    assert {aspect for difference in data["differences"] for aspect in difference} >= {"flags", "open_checkpoints",
                                                                                       "required", "derived"}
    assert data["failures"] == [] and data["failed_cases"] == 0
    rule_ids = {rule.id for rule in MOTOR.rules} | {rule.id for rule in candidate.rules}
    assert set(data["by_rule"]) == rule_ids
    for rule_id, counts in data["by_rule"].items():
        assert (counts["cases_before"], counts["cases_after"]) == (expected["before"][rule_id],
                                                                   expected["after"][rule_id]), rule_id
    assert data["by_rule"]["coverage_verification_late"]["cases_after"] == 0
    assert data["by_rule"]["large_claim_needs_supervisor"]["newly_firing"] > 0
    assert calls[0] == (0, CLAIMS_STORED) and calls[-1] == (CLAIMS_STORED, CLAIMS_STORED)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert report.summary_lines()[1].startswith(f"{CLAIMS_STORED} cases")


def test_reports_do_not_depend_on_jobs_or_chunks(database, claims):
    candidate = motor_candidate()
    serial = simulate(database_url=database.url, case_type=claims, candidate=candidate, baseline=MOTOR, n_jobs=1)
    parallel = simulate(database_url=database.url, case_type=claims, candidate=candidate, baseline=MOTOR,
                        n_jobs=2, chunk_size=37)
    assert parallel.n_jobs == 2
    assert comparable(parallel) == comparable(serial)


def test_since_and_as_of(database, claims):
    candidate = motor_candidate()
    with session_scope(database.engine) as session:
        opened = sorted(session.scalars(select(Case.opened_at).where(Case.case_type == claims)))
    since, as_of = opened[len(opened) // 2], opened[-1] + timedelta(days=400)
    report = simulate(database_url=database.url, case_type=claims, candidate=candidate, baseline=MOTOR,
                      since=since, as_of=as_of, n_jobs=1)
    expected = one_by_one(database, claims, candidate, MOTOR, since=since, as_of=as_of)
    data = report.to_dict()
    assert data["cases"] == expected["cases"] == sum(1 for moment in opened if moment >= since)
    assert (data["since"], data["as_of"]) == (since.isoformat(), as_of.isoformat())
    assert data["differences"] == expected["differences"]
    assert {difference["as_of"] for difference in data["differences"]} == {as_of.isoformat()}


def test_without_a_baseline_everything_is_added(database, claims):
    report = simulate(database_url=database.url, case_type=claims, candidate=MOTOR, baseline=None, n_jobs=1)
    expected = one_by_one(database, claims, MOTOR, None)
    data = report.to_dict()
    assert data["baseline_version"] is None
    assert data["differences"] == expected["differences"]
    assert all(not change["removed"] for difference in data["differences"]
               for aspect, change in difference.items() if aspect in COMPARED_ASPECTS)
    assert all(counts["cases_before"] == 0 and counts["cases_after"] == counts["newly_firing"]
               for counts in data["by_rule"].values())
    assert data["workload"]["cases_no_longer_flagged"] == data["workload"]["flags_removed"] == 0


def test_a_failing_consequence_is_a_failure_entry(database, claims):
    candidate = motor_candidate(FAILING_RULE)
    report = simulate(database_url=database.url, case_type=claims, candidate=candidate, baseline=MOTOR, n_jobs=1)
    with session_scope(database.engine) as session:
        stored = session.execute(select(Case.case_id, Case.attributes).where(Case.case_type == claims))
        large = sorted(case_id for case_id, attributes in stored if attributes["claim_amount"] > 30000)
    assert large
    data = report.to_dict()
    assert [failure["case_id"] for failure in data["failures"]] == large
    assert {(failure["version"], failure["rule_id"]) for failure in data["failures"]} == {
        ("candidate", "quotes_a_missing_field")}
    assert "fnol.assessor" in data["failures"][0]["problem"]
    assert data["failed_cases"] == len(large) and data["cases"] == CLAIMS_STORED
    assert not {difference["case_id"] for difference in data["differences"]} & set(large)
    assert any("quotes_a_missing_field" in line for line in report.summary_lines())


# -- workload on a handful of claims with known answers ---------------------------------------------

SMALL_CANDIDATE = edited(edited(CLAIMS, "large", "{gt: 10000}", "{gt: 5000}"), "docs_missing")


@pytest.fixture
def small_claims(database) -> Iterator[str]:
    """Five claims of the test ruleset (handler h1), each a different kind of change."""
    case_type = f"sim_claim_{uuid.uuid4().hex[:8]}"
    cases = {
        "unchanged": (12_000, []),
        "newly_flagged_and_blocked": (7_000, []),
        "no_longer_flagged": (3_000, [("documents_requested", "h2")]),
        "flag_swapped_newly_blocked": (7_000, [("documents_requested", "h2")]),
        "newly_flagged_signed_off": (7_000, [("supervisor_approved", "h2")]),
    }
    with session_scope(database.engine) as session:
        for name, (amount, events) in cases.items():
            case_id = f"{case_type}-{name}"
            upsert_case(session=session, case_id=case_id, data=CaseIn(
                case_type=case_type, opened_at=T0, attributes={"amount": amount, "region": "west", "handler": "h1"}))
            if events:  # append_events cannot take an empty list on PostgreSQL
                append_events(session=session, case_id=case_id, max_history=100, events=[
                    EventIn(event_id=f"e{i}", type=kind, at=T0 + timedelta(hours=i), actor=actor)
                    for i, (kind, actor) in enumerate(events, start=1)])
        session.commit()
    yield case_type
    remove(database, case_type)


def test_workload_counts_on_known_cases(database, small_claims):
    report = simulate(database_url=database.url, case_type=small_claims, candidate=load_ruleset(SMALL_CANDIDATE),
                      baseline=load_ruleset(CLAIMS), n_jobs=1)
    data = report.to_dict()
    assert data["workload"] == {
        "cases_newly_flagged": 2, "cases_no_longer_flagged": 1,
        "cases_newly_blocked": 2, "cases_no_longer_blocked": 0,
        "checkpoints_newly_blocking": 2, "checkpoints_no_longer_blocking": 0,
        "flags_added": 3, "flags_removed": 2,
    }
    assert data["cases"] == 5 and data["changed_cases"] == 4
    assert data["by_rule"]["large"] == {"cases_before": 1, "cases_after": 4, "newly_firing": 3,
                                        "no_longer_firing": 0}
    assert data["by_rule"]["docs_missing"] == {"cases_before": 2, "cases_after": 0, "newly_firing": 0,
                                               "no_longer_firing": 2}
    assert data["by_aspect"]["flags"] == {"added": 3, "removed": 2}
    assert data["by_aspect"]["satisfied_checkpoints"] == {"added": 1, "removed": 0}
    swapped = next(d for d in data["differences"] if d["case_id"].endswith("flag_swapped_newly_blocked"))
    assert swapped["flags"] == {"added": ["large"], "removed": ["documents_missing"]}
    assert swapped["blocked"] == {"added": ["approve", "pay"], "removed": []}


def mutations(seed: int, count: int) -> list[tuple[str, str]]:
    """(label, candidate source): seeded one-rule edits of the motor ruleset: a rule dropped, its priority
    raised, its first number halved, its first flag's severity changed."""
    rng = random.Random(seed)
    found = []
    for rule in MOTOR.rules:
        start, end = rule_block(MOTOR.source, rule.id)
        block = MOTOR.source[start:end]
        found.append((f"drop {rule.id}", edited(MOTOR.source, rule.id)))
        if "    priority: " in block:
            found.append((f"reprioritise {rule.id}", edited(MOTOR.source, rule.id, "    priority: ",
                                                            "    priority: 1")))
        number = re.search(r"\{(gt|gte|lt|lte): (\d+(?:\.\d+)?)\}", block)
        if number:
            old = number.group(0)
            new = f"{{{number.group(1)}: {float(number.group(2)) / 2}}}"
            found.append((f"halve {old} in {rule.id}", edited(MOTOR.source, rule.id, old, new)))
        for severity, other in (("severity: warning", "severity: critical"), ("severity: critical", "severity: info")):
            if severity in block:
                found.append((f"{other} in {rule.id}", edited(MOTOR.source, rule.id, severity, other)))
                break
    return rng.sample(found, min(count, len(found)))


@pytest.mark.slow
@pytest.mark.parametrize(("label", "source"), mutations(seed=11, count=24), ids=lambda value: str(value)[:40])
def test_screened_simulation_equals_one_by_one_on_mutated_rulesets(database, claims, label, source):
    candidate = load_ruleset(source, source=label)
    report = simulate(database_url=database.url, case_type=claims, candidate=candidate, baseline=MOTOR, n_jobs=2)
    expected = one_by_one(database, claims, candidate, MOTOR)
    data = report.to_dict()
    assert data["differences"] == expected["differences"], label
    assert {rule_id: (c["cases_before"], c["cases_after"]) for rule_id, c in data["by_rule"].items()} == {
        rule_id: (expected["before"][rule_id], expected["after"][rule_id]) for rule_id in data["by_rule"]}, label
