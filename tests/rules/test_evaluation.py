"""The adapter's contract on a small ruleset: complete, deterministic, order-free, errors named."""

import random
import threading

import pytest

from app.rules.compiler import compile_ruleset
from app.rules.evaluation import Evaluator, RuleConsequenceError
from app.rules.facts import CaseData
from app.rules.validator import load_ruleset
from tests.rules.fixtures import CLAIMS, T0, claim


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator(compile_ruleset(load_ruleset(CLAIMS)))


def evaluate(evaluator, case, days: float = 10):
    from datetime import timedelta

    return evaluator.evaluate(case, as_of=T0 + timedelta(days=days))


def test_flags_checkpoints_and_quoted_facts(evaluator):
    outcome = evaluate(evaluator, claim(12_000, ("fnol", 0)))
    assert [(f.code, f.message) for f in outcome.flags] == [("large", "claim of 12000")]
    (signoff,) = outcome.checkpoints
    assert (signoff.id, signoff.status) == ("signoff", "open")
    assert outcome.blocked_actions == {"approve": ["signoff"], "pay": ["signoff"]}


def test_checkpoint_is_satisfied_only_by_someone_other_than_the_handler(evaluator):
    by_handler = claim(12_000, ("supervisor_approved", 1))
    by_handler = CaseData(**{**by_handler.__dict__, "events": (by_handler.events[0].__class__(
        "e1", "supervisor_approved", T0, "h1"),)})
    assert evaluate(evaluator, by_handler).checkpoints[0].status == "open"
    by_other = claim(12_000, ("supervisor_approved", 1))
    outcome = evaluate(evaluator, by_other)
    assert outcome.checkpoints[0].status == "satisfied"
    assert outcome.blocked_actions == {}


def test_absence_with_a_join(evaluator):
    open_check = evaluate(evaluator, claim(100, ("fraud_check_cleared", 0), ("fraud_check_opened", 1)))
    assert [a.action for a in open_check.forbidden_actions] == ["pay"]
    cleared = evaluate(evaluator, claim(100, ("fraud_check_opened", 1), ("fraud_check_cleared", 2)))
    assert cleared.forbidden_actions == []


def test_derived_facts_chain_two_levels(evaluator):
    outcome = evaluate(evaluator, claim(8_000, ("fraud_check_opened", 1)))
    assert [(d.type, d.fields) for d in outcome.derived_facts] == [
        ("risky", {"why": "fraud", "amount": 8_000}), ("referral", {"amount": 8_000})]
    assert [a.action for a in outcome.required_actions] == ["escalate"]
    assert outcome.required_actions[0].reasons[0].reason == "referral of 8000"
    small = evaluate(evaluator, claim(4_000, ("fraud_check_opened", 1)))
    assert [d.type for d in small.derived_facts] == ["risky"]
    assert small.required_actions == []


def test_each_match_fires_once_and_alternatives_do_not_double(evaluator):
    outcome = evaluate(evaluator, claim(100, ("documents_requested", 1), ("documents_requested", 2)))
    assert [f.code for f in outcome.flags] == ["documents_missing", "documents_missing"]
    assert sum(f.rule_id == "region_hint" for f in outcome.trace) == 1
    south = evaluate(evaluator, claim(100, ("fnol", 0), ("fnol", 0), region="south"))
    assert [r.action for r in south.recommended_actions] == ["approve"]
    assert south.recommended_actions[0].weight == 2


def test_list_contains(evaluator):
    received = claim(100, ("documents_requested", 1), ("documents_received", 2),
                     e2={"documents": ["photos", "police_report"]})
    assert evaluate(evaluator, received).flags == []
    wrong_document = claim(100, ("documents_requested", 1), ("documents_received", 2), e2={"documents": ["photos"]})
    assert [f.code for f in evaluate(evaluator, wrong_document).flags] == ["documents_missing"]


def test_identical_events_are_two_facts(evaluator):
    outcome = evaluate(evaluator, claim(100, ("documents_requested", 1), ("documents_requested", 1)))
    assert len([f for f in outcome.trace if f.rule_id == "docs_missing"]) == 2
    south = evaluate(evaluator, claim(100, ("fnol", 0), ("fnol", 0), region="south"))
    assert south.trace[-1].matched["history"] == "history"


def test_outcome_does_not_depend_on_event_order(evaluator):
    events = [("fnol", 0), ("fraud_check_opened", 2), ("documents_requested", 3), ("fraud_check_cleared", 2),
              ("supervisor_approved", 5), ("documents_requested", 3)]
    baseline = evaluate(evaluator, claim(20_000, *events))
    rng = random.Random(3)
    for _ in range(10):
        shuffled = claim(20_000, *events)
        shuffled = CaseData(**{**shuffled.__dict__, "events": tuple(rng.sample(shuffled.events, len(events)))})
        assert evaluate(evaluator, shuffled) == baseline


def test_a_failing_consequence_names_the_rule_and_returns_nothing(evaluator):
    # `fraud_open` asserts risky.amount from case.amount, which this case lacks.
    with pytest.raises(RuleConsequenceError) as error:
        evaluate(evaluator, claim(None, ("fraud_check_opened", 1)))
    assert error.value.rule_id == "fraud_open"
    assert "case.amount" in error.value.message
    # The engine is left clean: the next case evaluates normally.
    assert [f.code for f in evaluate(evaluator, claim(12_000)).flags] == ["large"]


def test_require_and_forbid_conflict_follows_priority():
    text = CLAIMS.replace("""  - id: region_hint""", """  - id: no_escalation_north
    priority: 3
    when:
      - case: {region: north}
    then:
      - forbid_action: {action: escalate, reason: "north never escalates"}
  - id: region_hint""")
    evaluator = Evaluator(compile_ruleset(load_ruleset(text)))
    outcome = evaluate(evaluator, claim(8_000, ("fraud_check_opened", 1)))
    assert [a.action for a in outcome.required_actions] == ["escalate"]
    assert outcome.forbidden_actions[0].action == "pay"
    (conflict,) = outcome.conflicts
    assert (conflict.action, conflict.resolution) == ("escalate", "required")


def test_no_background_threads(evaluator):
    before = threading.active_count()
    for amount in range(50):
        evaluate(evaluator, claim(amount * 1000, ("fraud_check_opened", 1)))
    assert threading.active_count() == before


def test_threads_share_an_evaluator_safely(evaluator):
    cases = [claim(amount, ("fraud_check_opened", 1), ("documents_requested", 2), case_id=f"C{amount}")
             for amount in range(0, 20_000, 500)]
    expected = [evaluate(evaluator, case) for case in cases]
    results: list = [None] * len(cases)

    def work(offset: int) -> None:
        for i in range(offset, len(cases), 4):
            results[i] = evaluate(evaluator, cases[i])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected


def test_a_rule_whose_alternatives_sit_at_different_levels():
    text = """name: levels
case_type: l
case_attributes: {x: number}
derived: {d: {n: number}}
rules:
  - {id: make_d, when: [case: {x: {gte: 2}}], then: [assert: {fact: d, fields: {n: 1}}]}
  - id: mixed
    when: [any: [d: {}, case: {x: 1}]]
    then:
      - flag: {code: f, message: hi}
      - checkpoint: {id: cp, blocks: [], until: [d: {as: later}], message: waits for d}
"""
    evaluator = Evaluator(compile_ruleset(load_ruleset(text)))
    # x=1: the case alternative matches, and no d exists; x=2: the d alternative matches, and the
    # only d is already bound, so `until` (a distinct d) finds nothing either.
    for x in (1, 2):
        outcome = evaluator.evaluate(CaseData("C", "l", "open", T0, {"x": x}), as_of=T0)
        assert [f.code for f in outcome.flags] == ["f"]
        assert outcome.checkpoints[0].status == "open"


def test_until_may_not_reuse_a_name_any_when_alternative_binds():
    from app.rules.validator import RulesetInvalid

    text = """name: levels
case_type: l
case_attributes: {x: number}
rules:
  - id: r
    when: [any: [event: {}, case: {x: 1}]]
    then:
      - checkpoint: {id: cp, blocks: [], until: [event: {}], message: m}
"""
    with pytest.raises(RulesetInvalid) as error:
        load_ruleset(text)
    assert "the name 'event' is bound by `when`" in error.value.problems[0].message
