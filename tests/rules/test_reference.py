"""The reference evaluator on tiny rulesets whose firings are obvious: the oracle must be right before it judges."""

from datetime import UTC, datetime, timedelta

import pytest

from app.rules.evaluation import RuleConsequenceError
from app.rules.facts import CaseData, EventData
from app.rules.validator import load_ruleset
from tests.rules.reference import firing_order, reference_evaluate

T0 = datetime(2025, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=4)
HEADER = """\
name: tiny
case_type: claim
actions: [{id: pay, label: Pay}, {id: close, label: Close}]
case_attributes: {amount: number, limit: number}
event_attributes: {docs: list, amount: number}
"""


def ruleset(body: str):
    return load_ruleset(HEADER + body)


def case(*events: tuple[str, str, float], **attributes) -> CaseData:
    """A case with events (id, type, hours after T0)."""
    return CaseData("C1", "claim", "open", T0, attributes,
                    tuple(EventData(event_id, kind, T0 + timedelta(hours=hours)) for event_id, kind, hours in events))


def fired(outcome) -> list[tuple[str, dict[str, str]]]:
    return [(firing.rule_id, firing.matched) for firing in outcome.trace]


def test_missing_field_satisfies_only_exists_false():
    rules = ruleset("""rules:
  - {id: ne, when: [case: {amount: {ne: 5}}], then: [flag: {code: a, message: m}]}
  - {id: not_in, when: [case: {amount: {not_in: [5]}}], then: [flag: {code: a, message: m}]}
  - {id: absent, when: [case: {amount: {exists: false}}], then: [flag: {code: a, message: m}]}
  - {id: present, when: [case: {amount: {exists: true}}], then: [flag: {code: a, message: m}]}
""")
    assert [rule for rule, _ in fired(reference_evaluate(rules, case(), AS_OF))] == ["absent"]
    assert [rule for rule, _ in fired(reference_evaluate(rules, case(amount=7), AS_OF))] == ["ne", "not_in", "present"]


def test_one_fact_binds_one_name():
    rules = ruleset("""rules:
  - id: pair
    when: [event: {as: a, type: x}, event: {as: b, type: x}]
    then: [flag: {code: a, message: m}]
""")
    assert fired(reference_evaluate(rules, case(("e1", "x", 1)), AS_OF)) == []
    assert fired(reference_evaluate(rules, case(("e1", "x", 1), ("e2", "x", 1)), AS_OF)) == [
        ("pair", {"a": "event:e1", "b": "event:e2"}), ("pair", {"a": "event:e2", "b": "event:e1"})]


def test_no_pattern_with_a_join_excludes_only_the_matches_it_extends():
    rules = ruleset("""rules:
  - id: unanswered
    when:
      - event: {as: q, type: question}
      - no event: {type: answer, at: {gt: $q.at}}
    then: [flag: {code: a, message: "{q.event_id}"}]
""")
    outcome = reference_evaluate(rules, case(("q1", "question", 1), ("a1", "answer", 2), ("q2", "question", 3)), AS_OF)
    assert fired(outcome) == [("unanswered", {"q": "event:q2"})]


def test_no_pattern_ignores_the_facts_the_match_binds():
    rules = ruleset("""rules:
  - {id: only, when: [event: {type: x}, no event: {type: x}], then: [flag: {code: a, message: m}]}
""")
    assert [rule for rule, _ in fired(reference_evaluate(rules, case(("e1", "x", 1)), AS_OF))] == ["only"]
    assert fired(reference_evaluate(rules, case(("e1", "x", 1), ("e2", "x", 2)), AS_OF)) == []


def test_alternatives_fire_once_per_distinct_match():
    rules = ruleset("""rules:
  - id: either
    when:
      - any:
          - event: {as: e, type: x}
          - event: {as: e, at: {lt: '2025-01-01T05:00:00Z'}}
    then: [flag: {code: a, message: m}]
""")
    outcome = reference_evaluate(rules, case(("e1", "x", 1), ("e2", "y", 2), ("e3", "x", 9)), AS_OF)
    assert fired(outcome) == [("either", {"e": "event:e1"}), ("either", {"e": "event:e2"}),
                              ("either", {"e": "event:e3"})]


def test_a_join_on_a_missing_field_is_false_and_offsets_add():
    rules = ruleset("""rules:
  - id: over
    when: [case: {}, event: {amount: {gt: $case.limit + 10}}]
    then: [flag: {code: a, message: m}]
  - id: soon
    when: [event: {as: a, type: x}, event: {as: b, type: y, at: {lte: $a.at + 2 hours}}]
    then: [flag: {code: a, message: m}]
""")
    events = (EventData("e1", "x", T0, None, {"amount": 20}), EventData("e2", "y", T0 + timedelta(hours=2)),
              EventData("e3", "y", T0 + timedelta(hours=3)))
    without_limit = CaseData("C1", "claim", "open", T0, {}, events)
    assert fired(reference_evaluate(rules, without_limit, AS_OF)) == [("soon", {"a": "event:e1", "b": "event:e2"})]
    with_limit = CaseData("C1", "claim", "open", T0, {"limit": 9.5}, events)
    assert [rule for rule, _ in fired(reference_evaluate(rules, with_limit, AS_OF))] == ["over", "soon"]


def test_checkpoint_instances_are_satisfied_by_extending_their_match():
    rules = ruleset("""rules:
  - id: review
    when: [event: {as: asked, type: question}]
    then:
      - checkpoint:
          id: answered
          blocks: [close]
          message: "{asked.event_id} unanswered"
          until: [event: {type: answer, at: {gt: $asked.at}}]
""")
    outcome = reference_evaluate(rules, case(("q1", "question", 1), ("a1", "answer", 2), ("q2", "question", 3)), AS_OF)
    (checkpoint,) = outcome.checkpoints
    assert (checkpoint.status, checkpoint.instances, checkpoint.open_instances) == ("open", 2, 1)
    assert checkpoint.message == "q2 unanswered"
    assert outcome.blocked_actions == {"close": ["answered"]}
    answered = reference_evaluate(rules, case(("q1", "question", 1), ("q2", "question", 3), ("a1", "answer", 4)),
                                  AS_OF)
    assert answered.checkpoints[0].status == "satisfied"
    assert answered.blocked_actions == {}


def test_derived_facts_chain_and_absence_sees_all_of_them():
    rules = ruleset("""derived:
  big: {amount: number}
  bigger: {amount: number}
rules:
  - id: lonely
    when: [case: {}, no bigger: {}]
    then: [flag: {code: lonely, message: m}]
  - id: second
    when: [big: {amount: {gt: 15}}]
    then: [assert: {fact: bigger, fields: {amount: $big.amount + 1}}]
  - id: first
    when: [event: {amount: {gt: 5}}]
    then: [assert: {fact: big, fields: {amount: $event.amount}}]
""")
    events = (EventData("e1", "x", T0, None, {"amount": 10}), EventData("e2", "x", T0, None, {"amount": 20}))
    outcome = reference_evaluate(rules, CaseData("C1", "claim", "open", T0, {}, events), AS_OF)
    assert [(fact.key, fact.fields, fact.rule_id) for fact in outcome.derived_facts] == [
        ("big#1", {"amount": 10}, "first"), ("big#2", {"amount": 20}, "first"), ("bigger#3", {"amount": 21}, "second")]
    assert outcome.flags == []
    assert [rule.id for rule in firing_order(rules)] == ["first", "second", "lonely"]


def test_a_producer_whose_until_reads_a_derived_type_fires_after_its_producers():
    rules = ruleset("""derived:
  first: {n: number}
  second: {n: number}
rules:
  - id: use_second
    when: [second: {}]
    then: [flag: {code: x, message: m}]
  - id: make_second
    when: [case: {}]
    then:
      - assert: {fact: second, fields: {n: 2}}
      - checkpoint: {id: c, blocks: [pay], message: m, until: [first: {}]}
  - id: make_first
    when: [case: {}]
    then: [assert: {fact: first, fields: {n: 1}}]
""")
    assert [rule.id for rule in firing_order(rules)] == ["make_first", "make_second", "use_second"]
    outcome = reference_evaluate(rules, case(), AS_OF)
    assert [firing.rule_id for firing in outcome.trace] == ["make_first", "make_second", "use_second"]
    assert outcome.checkpoints[0].status == "satisfied"


def test_quoting_a_missing_field_names_the_rule():
    rules = ruleset("""rules:
  - {id: loud, when: [case: {}], then: [flag: {code: a, message: "{case.amount} EUR"}]}
""")
    assert reference_evaluate(rules, case(amount=5), AS_OF).flags[0].message == "5 EUR"
    with pytest.raises(RuleConsequenceError) as error:
        reference_evaluate(rules, case(), AS_OF)
    assert error.value.rule_id == "loud"


def test_a_rule_of_absences_alone_fires_once_with_an_empty_match():
    rules = ruleset("""rules:
  - {id: quiet, when: [no event: {type: closed}], then: [flag: {code: a, message: m}]}
""")
    assert fired(reference_evaluate(rules, case(("e1", "opened", 1)), AS_OF)) == [("quiet", {})]
    assert fired(reference_evaluate(rules, case(("e1", "closed", 1)), AS_OF)) == []
