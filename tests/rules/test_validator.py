"""Ruleset validation: every problem names its line and rule, and says what to do."""

import textwrap

import pytest

from app.rules.model import Op, Ref
from app.rules.validator import RulesetInvalid, load_ruleset

HEADER = """\
name: claims
case_type: claim
actions:
  - {id: approve, label: Approve}
case_attributes: {amount: number, region: text, opened: timestamp}
derived:
  risky: {score: number}
rules:
"""


def problems(*parts: str) -> list[tuple[int, str | None, str]]:
    with pytest.raises(RulesetInvalid) as error:
        load_ruleset(HEADER + "".join(textwrap.dedent(part) for part in parts), source="claims.yaml")
    return [(p.line, p.rule_id, p.message) for p in error.value.problems]


def only_problem(*parts: str) -> tuple[int, str | None, str]:
    found = problems(*parts)
    assert len(found) == 1, found
    return found[0]


PRODUCER = """\
- id: producer
  when: [{case: {}}]
  then: [{assert: {fact: risky, fields: {score: 1}}}]
"""


def test_a_valid_ruleset_loads_with_its_version():
    ruleset = load_ruleset(HEADER + PRODUCER + textwrap.dedent("""\
        - id: big
          when:
            - case: {amount: {between: [100, 200]}, opened: {gte: 2025-01-31}, region: no}
          then:
            - flag: {code: big, message: "{case.amount} in {case.region}"}
        """))
    (test_amount_low, test_amount_high, test_date, test_region) = ruleset.rule("big").when[0][0].tests
    assert (test_amount_low.op, test_amount_high.op) == (Op.GTE, Op.LTE)
    assert test_date.value == 1738281600.0  # 2025-01-31T00:00:00Z
    assert test_region.value == "no"  # YAML 1.1 would have read Norway as False
    assert len(ruleset.version) == 64


def test_yaml_syntax_error_points_at_the_line():
    assert problems("- id: x\n  when: [\n")[0][0] == 11


def test_duplicate_keys_are_refused():
    line, _, message = only_problem(PRODUCER + "- id: a\n  id: b\n  when: [{case: {}}]\n  then: []\n")
    assert (line, message) == (13, "duplicate key 'id'")


def test_unknown_operator():
    line, rule, message = only_problem(PRODUCER, """\
        - id: big
          when:
            - case: {amount: {greater: 5}}
          then: [{flag: {code: x, message: m}}]
        """)
    assert (line, rule) == (14, "big")
    assert "unknown operator 'greater'" in message and "gt" in message


def test_unknown_fact_type_and_field():
    found = problems(PRODUCER, """\
        - id: r
          when:
            - claim: {}
            - case: {amont: 5}
          then: [{flag: {code: x, message: m}}]
        """)
    assert [(line, message.split(";")[0]) for line, _, message in found] == [
        (14, "unknown fact type 'claim'"), (15, "`case` has no field 'amont'")]


def test_type_mismatch_text_against_number():
    line, _, message = only_problem(PRODUCER, """\
        - id: r
          when: [{case: {amount: {gt: "high"}}}]
          then: [{flag: {code: x, message: m}}]
        """)
    assert line == 13
    assert message == "type mismatch: 'amount' is a number, compared with text 'high'"


def test_operator_that_does_not_apply_to_the_type():
    _, _, message = only_problem(PRODUCER, """\
        - id: r
          when: [{case: {region: {gt: north}}}]
          then: [{flag: {code: x, message: m}}]
        """)
    assert message.startswith("`gt` does not apply to 'region', a text")


def test_duplicate_rule_id():
    line, rule, message = only_problem(PRODUCER, """\
        - id: producer
          when: [{case: {}}]
          then: [{flag: {code: x, message: m}}]
        """)
    assert (line, rule, message) == (12, "producer", "duplicate rule id (first at line 9)")


def test_unknown_action():
    line, _, message = only_problem(PRODUCER, """\
        - id: r
          when: [{case: {}}]
          then: [{require_action: {action: pay, reason: because}}]
        """)
    assert line == 14
    assert message == "unknown action 'pay'; add it to `actions`"


def test_derived_fact_no_rule_produces():
    found = problems("""\
        - id: r
          when: [{risky: {}}]
          then: [{flag: {code: x, message: m}}]
        """)
    messages = [message for _, _, message in found]
    assert "derived fact 'risky' is declared but no rule asserts it" in messages
    assert "matches derived fact 'risky', which no rule produces" in messages


def test_derived_facts_may_not_depend_on_themselves():
    _, _, message = only_problem("""\
        - id: loop
          when: [{risky: {}}]
          then: [{assert: {fact: risky, fields: {score: 2}}}]
        """)
    assert message == "derived facts depend on themselves: risky -> risky (rules loop)"


def test_references_must_point_backwards_to_a_bound_name():
    _, _, message = only_problem(PRODUCER, """\
        - id: r
          when:
            - event: {at: {gt: $first.at}}
            - event: {as: first}
          then: [{flag: {code: x, message: m}}]
        """)
    assert "refers to 'first', which no earlier pattern binds" in message


def test_references_parse_offsets():
    ruleset = load_ruleset(HEADER + PRODUCER + textwrap.dedent("""\
        - id: r
          when:
            - event: {as: first}
            - event: {as: second, at: {gt: $first.at + 2 days, lte: $first.at - 90 minutes}}
          then: [{flag: {code: x, message: m}}]
        """))
    tests = ruleset.rule("r").when[0][1].tests
    assert [t.value for t in tests] == [Ref("first", "at", 172_800.0), Ref("first", "at", -5_400.0)]


def test_same_type_twice_needs_names():
    _, _, message = only_problem(PRODUCER, """\
        - id: r
          when: [{event: {}}, {event: {}}]
          then: [{flag: {code: x, message: m}}]
        """)
    assert message == "the name 'event' is bound twice in this rule (name each with `as:`)"


def test_messages_may_only_quote_names_every_match_binds():
    _, _, message = only_problem(PRODUCER, """\
        - id: r
          when:
            - any:
                - event: {as: a}
                - case: {}
          then: [{flag: {code: x, message: "{a.type}"}}]
        """)
    assert "quotes 'a', which not every match binds" in message


def test_every_problem_is_reported_at_once():
    found = problems(PRODUCER, """\
        - id: r1
          when: [{case: {amount: {gt: x}}}]
          then: [{flag: {code: x, message: m}}]
        - id: r2
          when: [{case: {nope: 1}}]
          then: [{forbid_action: {action: nope, reason: r}}]
        """)
    assert {rule for _, rule, _ in found} == {"r1", "r2"}
    assert len(found) == 3


def test_a_text_starting_with_a_dollar_is_written_with_two():
    ruleset = load_ruleset(HEADER + PRODUCER + textwrap.dedent("""\
        - id: r
          when: [{case: {region: $$north}}]
          then: [{flag: {code: x, message: m}}]
        """))
    assert ruleset.rule("r").when[0][0].tests[0].value == "$north"
