"""Minimal reproductions of what the differential test found: production disagreeing with docs/rules.md.

Each test states the expected outcome explicitly (most also check the reference agrees), so a failure
here is production's. `test_bug_...` tests still failed when written; the others failed when found
and stay as regression guards.
"""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.rules.compiler import compile_ruleset
from app.rules.evaluation import Evaluator
from app.rules.facts import CaseData, EventData
from app.rules.validator import RulesetInvalid, load_ruleset
from tests.rules.reference import reference_evaluate

T0 = datetime(2025, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=4)
HEADER = """\
name: finding
case_type: claim
actions: [{id: pay, label: Pay}]
case_attributes: {limit: number}
event_attributes: {amount: number, due: timestamp}
"""


def both(body: str, case: CaseData):
    """The production outcome and the reference outcome of the ruleset `HEADER + body` for `case`."""
    ruleset = load_ruleset(HEADER + body)
    return Evaluator(compile_ruleset(ruleset)).evaluate(case, as_of=AS_OF), reference_evaluate(ruleset, case, AS_OF)


def claim(*events: EventData, **attributes) -> CaseData:
    return CaseData("C1", "claim", "open", T0, attributes, events)


def test_a_rule_of_absences_alone_fires_once():
    production, reference = both("""rules:
  - id: never_closed
    when: [no event: {type: closed}]
    then: [flag: {code: still_open, message: not closed yet}]
""", claim(EventData("e1", "opened", T0)))
    assert [flag.code for flag in reference.flags] == ["still_open"]
    assert [flag.code for flag in production.flags] == ["still_open"]


def test_an_until_of_absences_alone_can_be_satisfied():
    production, reference = both("""rules:
  - id: fraud_hold
    when: [event: {as: opened, type: fraud_check_opened}]
    then:
      - checkpoint: {id: no_open_alerts, blocks: [pay], message: waiting, until: [no event: {type: alert}]}
""", claim(EventData("e1", "fraud_check_opened", T0)))
    assert [(c.id, c.status) for c in reference.checkpoints] == [("no_open_alerts", "satisfied")]
    assert [(c.id, c.status) for c in production.checkpoints] == [("no_open_alerts", "satisfied")]


def test_an_equality_join_holds_between_an_int_and_an_equal_float():
    # Found as: literal equality (`amount: 1000`) held for 1000.0 but the join `amount: $case.limit` did
    # not, and a `no` pattern with that join failed to exclude. Built-in facts mix both (index, age_days).
    body = """rules:
  - id: at_limit
    when: [case: {}, event: {amount: $case.limit}]
    then: [flag: {code: at_limit, message: m}]
  - id: nothing_at_limit
    when: [case: {}, no event: {amount: $case.limit}]
    then: [flag: {code: nothing_at_limit, message: m}]
"""
    production, reference = both(body, claim(EventData("e1", "paid", T0, None, {"amount": 1000.0}), limit=1000))
    assert [flag.code for flag in reference.flags] == ["at_limit"]
    assert [flag.code for flag in production.flags] == ["at_limit"]


def test_facts_asserted_by_a_rule_whose_until_reads_a_derived_type_are_seen():
    # Found as: `second` sat at level 1 (its producer's `when` reads only the case) while its producer
    # ran at level 1 too (its `until` reads `first`), after level 1's answers were taken.
    production, reference = both("""derived: {first: {n: number}, second: {n: number}}
rules:
  - id: make_first
    when: [case: {}]
    then: [assert: {fact: first, fields: {n: 1}}]
  - id: make_second
    when: [case: {}]
    then:
      - assert: {fact: second, fields: {n: 2}}
      - checkpoint: {id: first_seen, blocks: [pay], message: waiting, until: [first: {}]}
  - id: use_second
    when: [second: {}]
    then: [flag: {code: second_seen, message: seen}]
""", claim())
    assert [flag.code for flag in reference.flags] == ["second_seen"]
    assert [flag.code for flag in production.flags] == ["second_seen"]


def test_an_until_reading_its_own_rules_derived_type_is_refused():
    # Found as a checkpoint left open although the rule's own `review` fact satisfies `until`;
    # docs/rules.md now counts a checkpoint's `until` as a dependency of what its rule asserts.
    with pytest.raises(RulesetInvalid, match="depend on themselves"):
        load_ruleset(HEADER + """derived: {review: {n: number}}
rules:
  - id: request_review
    when: [case: {}]
    then:
      - assert: {fact: review, fields: {n: 1}}
      - checkpoint: {id: reviewed, blocks: [pay], message: waiting, until: [review: {}]}
""")


def test_a_join_on_a_missing_field_is_false_not_an_engine_error():
    # Found as EngineError "Could not assert facts, error code: 311" for gt/ne/... joins.
    production, reference = both("""rules:
  - id: over_limit
    when: [case: {}, event: {amount: {gt: $case.limit}}]
    then: [flag: {code: over, message: over}]
  - id: before_due
    when: [event: {as: first}, event: {as: later, at: {gte: $first.due - 1 day}}]
    then: [flag: {code: due, message: due}]
""", claim(EventData("e1", "paid", T0, None, {"amount": 5}), EventData("e2", "paid", T0)))
    assert reference.flags == []
    assert production.flags == []


def test_alternatives_and_until_on_derived_types_do_not_crash():
    # Found as KeyError: a rule's queries were placed at different levels when only some of its
    # alternatives (or its `until`) read derived facts.
    body = """derived: {d: {n: number}}
rules:
  - id: make
    when: [case: {}]
    then: [assert: {fact: d, fields: {n: 1}}]
  - id: either
    when: [any: [case: {}, d: {}]]
    then: [flag: {code: x, message: m}]
  - id: wait
    when: [case: {}]
    then: [checkpoint: {id: c, blocks: [pay], message: m, until: [d: {}]}]
"""
    production, reference = both(body, claim())
    assert [(f.rule_id, f.matched) for f in reference.trace] == [
        ("either", {"case": "case"}), ("either", {"d": "d#1"}), ("make", {"case": "case"}), ("wait", {"case": "case"})]
    assert reference.checkpoints[0].status == "satisfied"
    assert production == reference


def test_bug_an_equality_join_between_zero_and_minus_zero_is_false():
    # 0 == -0.0 everywhere else (literal `amount: 0`, `gte` joins); only the equality join disagrees.
    production, reference = both("""rules:
  - id: at_limit
    when: [case: {}, event: {amount: $case.limit}]
    then: [flag: {code: at_limit, message: m}]
""", claim(EventData("e1", "paid", T0, None, {"amount": -0.0}), limit=0))
    assert [flag.code for flag in reference.flags] == ["at_limit"]
    assert [flag.code for flag in production.flags] == ["at_limit"]


@pytest.mark.parametrize("literal", ["0.00001", "10000000000000000"])
def test_bug_a_valid_ruleset_with_a_tiny_or_huge_literal_cannot_be_loaded_into_the_engine(literal):
    # The validator accepts both; the engine refuses their JSON (`1e-05`, `1e+16`): EngineError 204.
    production, reference = both(f"""rules:
  - id: above
    when: [case: {{limit: {{gt: {literal}}}}}]
    then: [flag: {{code: above, message: m}}]
""", claim(limit=1e17))
    assert [flag.code for flag in reference.flags] == ["above"]
    assert [flag.code for flag in production.flags] == ["above"]


SEGFAULT_PROBE = """
from datetime import UTC, datetime
from app.rules.compiler import compile_ruleset
from app.rules.evaluation import Evaluator
from app.rules.facts import CaseData
from app.rules.validator import load_ruleset

ruleset = load_ruleset(
    "name: probe\\ncase_type: claim\\ncase_attributes: {limit: number}\\nrules:\\n"
    "  - {id: has_limit, when: [case: {limit: {exists: true}}], then: [flag: {code: limit, message: m}]}\\n")
case = CaseData("C1", "claim", "open", datetime(2025, 1, 1, tzinfo=UTC), {"limit": VALUE})
outcome = Evaluator(compile_ruleset(ruleset)).evaluate(case, as_of=datetime(2025, 1, 2, tzinfo=UTC))
print([flag.code for flag in outcome.flags])
"""


@pytest.mark.parametrize("value", ["0.00001", "2e-05", "10**16", "9999999999999999", "3e20"])
def test_bug_a_number_whose_json_is_an_exponent_without_a_point_crashes_the_process(value):
    # Facts are written with repr(float(v)); the engine segfaults parsing `1e-05`, `1e+16`, `3e+20`
    # (not `1.5e+16`): one case attribute from a client takes the whole worker down. Run apart, so
    # the crash fails this test instead of ending the test session.
    probe = subprocess.run([sys.executable, "-X", "faulthandler", "-c", SEGFAULT_PROBE.replace("VALUE", value)],
                           capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert (probe.returncode, probe.stdout.strip()) == (0, "['limit']"), probe.stderr[-2000:]
