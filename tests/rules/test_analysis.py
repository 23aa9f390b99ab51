"""Static analysis of rulesets: each kind of finding is found where it is, and nowhere else."""

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.rules.analysis import analyze, can_hold, implies
from app.rules.compiler import compile_ruleset
from app.rules.evaluation import Evaluator
from app.rules.model import Op, Ref
from app.rules.model import Test as FieldTest  # not `Test*`: pytest would collect it
from app.rules.registry import ruleset_files
from app.rules.validator import load_ruleset, load_ruleset_file
from tests.rules.fixtures import T0, claim

ROOT = Path(__file__).parents[2]
EXAMPLES = ruleset_files([ROOT / "rulesets"])
PLANTED = Path(__file__).parent / "rulesets" / "planted_defects.yaml"

HEADER = """\
name: claims
case_type: claim
actions:
  - {id: approve, label: Approve}
  - {id: pay, label: Pay}
  - {id: escalate, label: Escalate}
case_attributes: {amount: number, region: text, handler: text, vip: boolean}
event_attributes: {documents: list, reason: text}
"""
# The validator wants every declared derived type asserted: only rulesets that assert `risky` declare it.
RISKY = """\
derived:
  risky: {level: text, score: number}
"""
# Reads `risky`, so that the rules asserting it are not reported as unused.
RISKY_READER = """\
- id: risky_reader
  when: [{risky: {}}]
  then: [{flag: {code: risky, message: m}}]
"""


def ruleset(rules: str, *, risky_reader: bool = False):
    body = textwrap.dedent(rules)
    derived = RISKY if "fact: risky" in body else ""
    return load_ruleset(HEADER + derived + "rules:\n" + body + (RISKY_READER if risky_reader else ""),
                        source="claims.yaml")


def found(rules: str, **options) -> list[tuple[str, tuple[str, ...]]]:
    return [(f.kind, f.rule_ids) for f in analyze(ruleset(rules, **options))]


def only(rules: str, **options):
    findings = analyze(ruleset(rules, **options))
    assert len(findings) == 1, findings
    return findings[0]


def flag_rule(rule_id: str, when: str, code: str = "f", priority: int = 0) -> str:
    return (f"- id: {rule_id}\n  priority: {priority}\n  when: {when}\n"
            f"  then: [{{flag: {{code: {code}, message: m}}}}]\n")


def constraint_rule(rule_id: str, kind: str, action: str, when: str, priority: int = 0) -> str:
    return (f"- id: {rule_id}\n  priority: {priority}\n  when: {when}\n"
            f"  then: [{{{kind}: {{action: {action}, reason: r}}}}]\n")


# -- the planted defects and the examples ----------------------------------------------------------------


def test_each_planted_defect_is_found_with_its_rules_and_nothing_else():
    findings = analyze(load_ruleset_file(PLANTED))
    assert [(f.kind, f.severity, f.rule_ids) for f in findings] == [
        ("contradiction", "error", ("risky_must_escalate", "vip_never_escalated")),
        ("shadowed_rule", "warning", ("regional_large_flag", "large_flag")),
        ("duplicate_rule", "warning", ("late_contact_again", "late_contact")),
        ("impossible_condition", "error", ("mid_size_claim",)),
        ("unused_derived_fact", "warning", ("mark_documents",)),
    ]
    text = PLANTED.read_text().splitlines()
    assert "forbid_action" in text[findings[0].line - 1]
    assert "id: regional_large_flag" in text[findings[1].line - 1]
    assert "amount: {gt: 10000, lt: 5000}" in text[findings[3].line - 1]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_the_example_rulesets_have_no_findings(path):
    assert analyze(load_ruleset_file(path)) == []


def test_findings_are_plain_data_in_a_fixed_order():
    loaded = load_ruleset_file(PLANTED)
    findings = analyze(loaded)
    assert findings == analyze(loaded)
    assert [f.line for f in findings] == sorted(f.line for f in findings)
    assert findings[3].to_dict() == {
        "kind": "impossible_condition", "severity": "error", "rule_ids": ["mid_size_claim"],
        "message": "rule mid_size_claim: `case: amount > 10000, amount < 5000` can never hold: amount > 10000 and "
                   "amount < 5000 contradict each other, so the rule never fires",
        "line": findings[3].line,
    }


# -- tests on one field ------------------------------------------------------------------------------------


def t(op: Op, value=None, field: str = "x") -> FieldTest:
    return FieldTest(field, op, value)


@pytest.mark.parametrize(("tests", "kind"), [
    ([t(Op.GT, 10), t(Op.LT, 5)], "number"),
    ([t(Op.GT, 10), t(Op.LTE, 10)], "number"),
    ([t(Op.GTE, 10), t(Op.LTE, 10), t(Op.NE, 10)], "number"),
    ([t(Op.EQ, "a"), t(Op.EQ, "b")], "text"),
    ([t(Op.EQ, "a"), t(Op.IN, ("b", "c"))], "text"),
    ([t(Op.IN, ("a", "b")), t(Op.IN, ("c",))], "text"),
    ([t(Op.EQ, "a"), t(Op.NE, "a")], "text"),
    ([t(Op.EQ, "a"), t(Op.NOT_IN, ("a", "b"))], "text"),
    ([t(Op.EQ, "a"), t(Op.MATCHES, "^b")], "text"),
    ([t(Op.EQ, True), t(Op.EQ, False)], "boolean"),
    ([t(Op.NE, True), t(Op.NE, False)], "boolean"),
    ([t(Op.MISSING), t(Op.NE, "a")], "text"),
    ([t(Op.MISSING), t(Op.GT, Ref("a", "at"))], "timestamp"),
    ([t(Op.CONTAINS, "a"), t(Op.NOT_CONTAINS, "a")], "list"),
    ([t(Op.IN, (1, 2)), t(Op.GT, 2)], "number"),
])
def test_contradictory_tests_cannot_hold(tests, kind):
    assert not can_hold(tests, kind)


@pytest.mark.parametrize(("tests", "kind"), [
    ([t(Op.GTE, 10), t(Op.LTE, 10)], "number"),
    ([t(Op.EQ, 1000), t(Op.IN, (1000.0, 5))], "number"),
    ([t(Op.NE, "a"), t(Op.NOT_IN, ("b",)), t(Op.MATCHES, "^c")], "text"),
    ([t(Op.GT, Ref("a", "at")), t(Op.LT, Ref("a", "at"))], "timestamp"),  # joins are not compared
    ([t(Op.MISSING)], "text"),
    ([t(Op.CONTAINS, "a"), t(Op.NOT_CONTAINS, "b")], "list"),
])
def test_compatible_tests_can_hold(tests, kind):
    assert can_hold(tests, kind)


def test_a_field_always_present_is_never_missing():
    assert can_hold([t(Op.MISSING)], "text")
    assert not can_hold([t(Op.MISSING)], "text", always_present=True)


def test_implication_follows_values_and_takes_joins_only_when_identical():
    assert implies([t(Op.GT, 10)], t(Op.GT, 5), "number")
    assert implies([t(Op.EQ, "a")], t(Op.IN, ("a", "b")), "text")
    assert implies([t(Op.GT, Ref("a", "at"))], t(Op.EXISTS), "timestamp")
    assert implies([t(Op.GT, Ref("a", "at", 5.0))], t(Op.GT, Ref("a", "at", 5.0)), "timestamp")
    assert not implies([t(Op.GT, 5)], t(Op.GT, 10), "number")
    assert not implies([t(Op.GT, Ref("a", "at", 5.0))], t(Op.GT, Ref("a", "at")), "timestamp")
    assert not implies([t(Op.NE, "a")], t(Op.NE, "b"), "text")


# -- impossible conditions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tests", [
    "{amount: {gt: 10, lt: 5}}",
    "{amount: {between: [10, 20], lt: 10}}",
    "{region: {eq: west, in: [north, east]}}",
    "{region: {eq: north, ne: north}}",
    "{region: {eq: north, not_in: [north, south]}}",
    "{region: {exists: false, matches: '^n'}}",
    "{vip: {eq: true, ne: true}}",
    "{case_type: {exists: false}}",
])
def test_contradictory_tests_in_a_pattern_are_an_impossible_condition(tests):
    finding = only(flag_rule("r", f"[{{case: {tests}}}]"))
    assert (finding.kind, finding.severity, finding.rule_ids) == ("impossible_condition", "error", ("r",))
    assert "the rule never fires" in finding.message


def test_compatible_tests_are_not_reported():
    assert found(flag_rule("r", "[{case: {amount: {between: [10, 20], lte: 10}, region: {ne: north}}}]")) == []


def test_the_message_names_the_rule_the_field_and_the_values():
    finding = only(flag_rule("r", "[{case: {region: {eq: west, in: [north, east]}}}]"))
    assert finding.message == ("rule r: `case: region = west, region in [east, north]` can never hold: region = west "
                               "and region in [east, north] contradict each other, so the rule never fires")


def test_an_impossible_alternative_of_any_is_reported_once_as_that_alternative():
    finding = only(flag_rule("r", """
        - event: {as: e, type: x}
        - any:
            - case: {amount: {gt: 10, lt: 5}}
            - case: {region: north}
        - any:
            - event: {as: f, type: y}
            - event: {as: f, type: z}"""))
    assert finding.rule_ids == ("r",)
    assert "that alternative never holds" in finding.message


def test_two_case_patterns_never_hold_together_whatever_their_tests():
    # One fact binds at most one name in a match (docs/rules.md): there is one case fact.
    rules = flag_rule("two_cases", "[{case: {as: a, amount: {gt: 100}}}, {case: {as: b, region: north}}]")
    finding = only(rules)
    assert finding.kind == "impossible_condition"
    assert "`case as a: amount > 100` and `case as b: region = north`" in finding.message
    # and the engine agrees: the rule does not fire for a case that satisfies both patterns
    outcome = Evaluator(compile_ruleset(ruleset(rules))).evaluate(claim(12_000, region="north"), as_of=T0)
    assert outcome.flags == []


def test_a_case_pattern_in_until_never_holds_when_when_binds_the_case():
    finding = only("""\
        - id: r
          when: [{case: {amount: {gt: 100}}}]
          then:
            - checkpoint:
                id: c
                blocks: [approve]
                until: [{case: {as: again, region: north}}]
                message: m
        """)
    assert finding.rule_ids == ("r",)
    assert "checkpoint c: `until`" in finding.message and "the checkpoint never lifts" in finding.message


def test_a_contradictory_until_is_reported_and_a_satisfiable_one_is_not():
    checkpoint = """\
        - id: r
          when: [{event: {as: e, type: x}}]
          then:
            - checkpoint:
                id: c
                blocks: [approve]
                until: [{event: {as: done, type: y, age_days: %s}}]
                message: m
        """
    assert found(checkpoint % "{gt: 5, lt: 1}") == [("impossible_condition", ("r",))]
    assert found(checkpoint % "{gt: 1, lt: 5}") == []


def test_no_case_without_tests_never_holds():
    assert found(flag_rule("r", "[{no case: {}}]")) == [("impossible_condition", ("r",))]
    assert found(flag_rule("r", "[{no case: {region: north}}]")) == []


def test_a_derived_field_no_assert_can_produce_is_an_impossible_condition():
    producers = textwrap.dedent("""\
        - id: high
          when: [{case: {amount: {gt: 100}}}]
          then: [{assert: {fact: risky, fields: {level: high}}}]
        - id: elevated
          when: [{case: {region: north}}]
          then: [{assert: {fact: risky, fields: {level: elevated}}}]
        """)
    finding = only(producers + flag_rule("reader", "[{risky: {level: critical}}]"))
    assert finding.rule_ids == ("reader",)
    assert "every assert of risky sets level to high, elevated" in finding.message
    assert found(producers + flag_rule("reader", "[{risky: {level: {in: [high, critical]}}}]")) == []
    # a field some assert leaves out is missing in that fact
    assert found(producers + flag_rule("reader", "[{risky: {score: {exists: false}}}]")) == []
    assert found(producers + flag_rule("reader", "[{risky: {score: {gt: 1}}}]")) == [
        ("impossible_condition", ("reader",))]


def test_a_derived_field_asserted_from_the_match_may_hold_any_value():
    producer = textwrap.dedent("""\
        - id: copy
          when: [{case: {}}]
          then: [{assert: {fact: risky, fields: {level: $case.region}}}]
        """)
    assert found(producer + flag_rule("reader", "[{risky: {level: critical}}]")) == []


# -- duplicates and shadowing ----------------------------------------------------------------------------------


def test_identical_rules_under_other_ids_are_duplicates():
    finding = only(flag_rule("a", "[{case: {amount: {gt: 10}}}]") + flag_rule("b", "[{case: {amount: {gt: 10}}}]"))
    assert (finding.kind, finding.rule_ids, finding.severity) == ("duplicate_rule", ("b", "a"), "warning")


def test_rules_with_other_effects_are_not_duplicates_or_shadowed():
    assert found(flag_rule("a", "[{case: {amount: {gt: 10}}}]", code="one")
                 + flag_rule("b", "[{case: {amount: {gt: 10}}}]", code="two")) == []


def test_a_more_specific_rule_with_the_same_effect_is_shadowed():
    finding = only(flag_rule("general", "[{event: {as: e, type: x}}]")
                   + flag_rule("specific", "[{event: {as: e, type: x, age_days: {gt: 2}}}, {no event: {type: y}}]"))
    assert (finding.kind, finding.rule_ids) == ("shadowed_rule", ("specific", "general"))
    assert finding.message.startswith("rule specific never adds anything: whenever it fires, rule general fires")


def test_a_rule_missing_the_others_no_pattern_is_not_shadowed():
    assert found(flag_rule("general", "[{event: {as: e, type: x}}, {no event: {type: y}}]")
                 + flag_rule("specific", "[{event: {as: e, type: x, age_days: {gt: 2}}}]")) == []


def test_a_fact_the_specific_rule_binds_can_break_the_general_rules_no():
    # `specific` holds with exactly one y event; `general` then does not: its `no` sees that event.
    assert found(flag_rule("general", "[{event: {as: e, type: x}}, {no event: {type: y}}]")
                 + flag_rule("specific", "[{event: {as: e, type: x}}, {event: {as: f, type: y}}, "
                                         "{no event: {type: y}}]")) == []


def test_joins_must_compare_with_the_paired_facts():
    general = "[{event: {as: a, type: x}}, {no event: {type: y, at: {gt: $a.at}}}]"
    same = "[{event: {as: b, type: x}}, {no event: {type: y, at: {gt: $b.at}}}]"
    other = "[{event: {as: a, type: z}}, {event: {as: b, type: x}}, {no event: {type: y, at: {gt: $a.at}}}]"
    assert found(flag_rule("general", general) + flag_rule("same", same)) == [("duplicate_rule", ("same", "general"))]
    assert found(flag_rule("general", general) + flag_rule("other", other)) == []


def test_a_requirement_at_a_higher_priority_is_not_shadowed():
    general = constraint_rule("general", "require_action", "escalate", "[{case: {amount: {gt: 10}}}]")
    stronger = constraint_rule("stronger", "require_action", "escalate", "[{case: {amount: {gt: 20}}}]", priority=5)
    weaker = constraint_rule("weaker", "require_action", "escalate", "[{case: {amount: {gt: 20}}}]", priority=-5)
    assert found(general + stronger) == []
    assert found(general + weaker) == [("shadowed_rule", ("weaker", "general"))]


def test_every_alternative_must_be_covered():
    general = flag_rule("general", "[{case: {region: north}}]")
    covered = flag_rule("covered", "[{any: [{case: {region: north, amount: {gt: 1}}}, {all: [{case: {region: north}},"
                                   " {event: {as: e, type: x}}]}]}]")
    uncovered = flag_rule("uncovered", "[{any: [{case: {region: north}}, {case: {region: south}}]}]")
    assert found(general + covered) == [("shadowed_rule", ("covered", "general"))]
    assert found(general + uncovered) == [("shadowed_rule", ("general", "uncovered"))]


# -- contradictions -----------------------------------------------------------------------------------------------


def test_required_and_forbidden_at_the_same_priority_is_a_contradiction():
    finding = only(constraint_rule("needs", "require_action", "pay", "[{event: {as: e, type: approved}}]", 10)
                   + constraint_rule("bans", "forbid_action", "pay", "[{case: {vip: true}}]", 10))
    assert (finding.kind, finding.severity, finding.rule_ids) == ("contradiction", "error", ("needs", "bans"))
    assert "rule needs requires action pay and rule bans forbids it, both at priority 10" in finding.message


def test_different_priorities_settle_it_deliberately():
    assert found(constraint_rule("needs", "require_action", "pay", "[{event: {as: e, type: approved}}]", 10)
                 + constraint_rule("bans", "forbid_action", "pay", "[{case: {vip: true}}]", 20)) == []


def test_rules_on_mutually_exclusive_case_values_never_fire_together():
    assert found(constraint_rule("north", "require_action", "pay", "[{case: {region: north}}]")
                 + constraint_rule("south", "forbid_action", "pay", "[{case: {region: {in: [south, west]}}}]")) == []
    assert found(constraint_rule("big", "require_action", "pay", "[{case: {amount: {gt: 100}}}]")
                 + constraint_rule("small", "forbid_action", "pay", "[{case: {amount: {lte: 100}}}]")) == []


def test_a_no_pattern_excluding_the_others_fact_rules_out_firing_together():
    needs = constraint_rule("needs", "require_action", "pay", "[{event: {as: e, type: approved, age_days: {gt: 2}}}]")
    assert found(needs + constraint_rule("bans", "forbid_action", "pay", "[{no event: {type: approved}}]")) == []
    # but not when the excluding rule binds such a fact itself: `no` ignores the facts its match holds
    binding = "[{event: {as: f, type: approved}}, {no event: {type: approved}}]"
    assert found(needs + constraint_rule("bans", "forbid_action", "pay", binding)) == [
        ("contradiction", ("needs", "bans"))]


def test_one_rule_requiring_and_forbidding_an_action_contradicts_itself():
    finding = only("""\
        - id: both
          when: [{case: {}}]
          then:
            - require_action: {action: pay, reason: r}
            - forbid_action: {action: pay, reason: r}
        """)
    assert (finding.kind, finding.rule_ids) == ("contradiction", ("both",))


# -- derived facts --------------------------------------------------------------------------------------------------


def test_a_derived_fact_nobody_matches_is_unused():
    producer = """\
        - id: producer
          when: [{case: {}}]
          then: [{assert: {fact: risky, fields: {level: high}}}]
        """
    finding = only(producer)
    assert (finding.kind, finding.severity, finding.rule_ids) == ("unused_derived_fact", "warning", ("producer",))
    assert found(producer, risky_reader=True) == []


def test_a_derived_fact_read_only_by_an_until_is_used():
    assert found("""\
        - id: producer
          when: [{case: {}}]
          then: [{assert: {fact: risky, fields: {level: high}}}]
        - id: waiting
          when: [{event: {as: e, type: x}}]
          then:
            - checkpoint: {id: c, blocks: [approve], until: [{risky: {level: high}}], message: m}
        """) == []


def test_a_derived_fact_declared_but_never_asserted_is_reported():
    # The validator refuses such a ruleset; the analysis still says so of one built otherwise.
    loaded = replace(ruleset(flag_rule("r", "[{case: {}}]")), derived={"ghost": {"why": "text"}})
    assert [f.to_dict() for f in analyze(loaded)] == [{
        "kind": "unasserted_derived_fact", "severity": "warning", "rule_ids": [],
        "message": "derived fact ghost is declared but no rule asserts it", "line": 0}]


# -- the command line ---------------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_analyze_reports_each_finding_with_its_place_and_fails():
    result = runner.invoke(app, ["rules", "analyze", str(PLANTED)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.startswith(f"{PLANTED}:") and "error impossible_condition [mid_size_claim]: rule mid_size_claim"
               in line for line in lines)
    assert any("warning shadowed_rule [regional_large_flag, large_flag]" in line for line in lines)
    assert "no findings" not in result.output


def test_cli_analyze_passes_clean_rulesets():
    result = runner.invoke(app, ["rules", "analyze", str(ROOT / "rulesets")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"{path}: no findings" for path in EXAMPLES]


def test_cli_analyze_fails_on_an_invalid_ruleset(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\n")
    result = runner.invoke(app, ["rules", "analyze", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:" in result.output


def test_a_warning_alone_fails_the_command(tmp_path):
    text = PLANTED.read_text()
    path = tmp_path / "warning_only.yaml"
    start = text.index("  # -- contradiction")
    path.write_text(text[:start] + text[text.index("  # -- unused derived fact"):])
    findings = analyze(load_ruleset_file(path))
    assert findings and {f.severity for f in findings} == {"warning"}
    assert runner.invoke(app, ["rules", "analyze", str(path)]).exit_code == 1


def test_an_offset_join_in_a_pattern_text():
    finding = only(flag_rule("r", "[{event: {as: e, type: x}}, "
                                  "{event: {as: f, type: y, at: {lte: $e.at + 2 days}, age_days: {gt: 3, lt: 1}}}]"))
    assert "`event as f: type = y, at <= $e.at + 2 days, age_days > 3, age_days < 1`" in finding.message


def test_timestamps_read_as_dates():
    finding = only(flag_rule("r", "[{event: {as: e, type: x, at: {gt: 2025-03-01, lt: 2025-02-01T12:00:00Z}}}]"))
    assert "at > 2025-03-01 and at < 2025-02-01T12:00:00Z contradict" in finding.message
