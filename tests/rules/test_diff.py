"""The semantic diff of two rulesets, on edited copies of rulesets/motor_claim.yaml."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.rules.diff import diff_rulesets
from app.rules.validator import load_ruleset

MOTOR = Path(__file__).parents[2] / "rulesets" / "motor_claim.yaml"
TEXT = MOTOR.read_text(encoding="utf-8")
runner = CliRunner()


def edited(*replacements: tuple[str, str]) -> str:
    text = TEXT
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def diff(*replacements: tuple[str, str]):
    return diff_rulesets(load_ruleset(TEXT), load_ruleset(edited(*replacements)))


def test_identical_rulesets_have_an_empty_diff():
    same = diff()
    assert not same
    assert same.lines() == []
    assert same.to_dict() == {
        "ruleset": [], "actions": {"added": [], "removed": [], "changed": []}, "fields": [],
        "derived": {"added": [], "removed": []}, "rules": {"added": [], "removed": [], "changed": []},
    }


def test_reordering_tests_and_moving_lines_is_no_change():
    assert not diff(
        ("{as: fnol, type: fnol_received, age_days: {gt: 2}}", "{age_days: {gt: 2}, type: fnol_received, as: fnol}"),
        ("# -- Coverage and first contact", "\n\n# -- Coverage and first contact"),
    )


def test_a_rule_added_and_a_rule_removed():
    changes = diff(("  - id: glass_fast_track\n", "  - id: windscreen_fast_track\n"))
    assert [r.id for r in changes.rules_added] == ["windscreen_fast_track"]
    assert [r.id for r in changes.rules_removed] == ["glass_fast_track"]
    assert changes.rules_changed == ()
    assert changes.to_dict()["rules"]["added"] == [{
        "id": "windscreen_fast_track",
        "description": "Glass damage under 1,500 EUR with no fraud check can be approved straight away.",
        "priority": 0,
        "when": ["case: incident_type = glass, claim_amount < 1500; no event: type = fraud_check_opened; "
                 "no event: type in [claim_approved, claim_rejected]"],
        "then": ["recommend_action claim_approved (weight 3)"],
    }]
    assert changes.lines()[:3] == [
        "rule added: windscreen_fast_track (priority 0): Glass damage under 1,500 EUR with no fraud check can be "
        "approved straight away.",
        "    when: case: incident_type = glass, claim_amount < 1500; no event: type = fraud_check_opened; "
        "no event: type in [claim_approved, claim_rejected]",
        "    then: recommend_action claim_approved (weight 3)",
    ]


def test_a_changed_condition_names_the_patterns_removed_and_added():
    changes = diff(("age_days: {gt: 2}}\n      - no event: {type: coverage_verified, at: {lte: $fnol.at + 2 days}}",
                    "age_days: {gt: 3}}\n      - no event: {type: coverage_verified, at: {lte: $fnol.at + 3 days}}"))
    (change,) = changes.rules_changed
    assert change.id == "coverage_verification_late"
    assert change.to_dict()["conditions"] == [{
        "old_alternative": 1, "new_alternative": 1,
        "removed": ["event as fnol: type = fnol_received, age_days > 2",
                    "no event: type = coverage_verified, at <= $fnol.at + 2 days"],
        "added": ["event as fnol: type = fnol_received, age_days > 3",
                  "no event: type = coverage_verified, at <= $fnol.at + 3 days"],
    }]
    assert change.consequences_added == change.consequences_removed == ()
    assert changes.lines() == [
        "rule changed: coverage_verification_late",
        "    condition removed: event as fnol: type = fnol_received, age_days > 2",
        "    condition removed: no event: type = coverage_verified, at <= $fnol.at + 2 days",
        "    condition added: event as fnol: type = fnol_received, age_days > 3",
        "    condition added: no event: type = coverage_verified, at <= $fnol.at + 3 days",
    ]


def test_a_changed_alternative_of_any_is_numbered():
    changes = diff(("- case: {injury: true}\n              - no event: {type: documents_received, documents: "
                    "{contains: medical_report}",
                    "- case: {injury: true, injury_severity: {ne: minor}}\n              - no event: "
                    "{type: documents_received, documents: {contains: medical_report}"))
    (change,) = changes.rules_changed
    assert change.id == "approved_without_required_documents"
    (condition,) = change.conditions
    assert (condition.old_alternative, condition.new_alternative) == (2, 2)
    assert condition.removed == ("case: injury = true",)
    assert condition.added == ("case: injury = true, injury_severity != minor",)
    assert "    condition added (alternative 2): case: injury = true, injury_severity != minor" in changes.lines()


def test_changed_consequences_are_named():
    changes = diff(
        ("code: late_first_contact\n          severity: warning",
         "code: late_first_contact\n          severity: critical"),
        ("blocks: [claim_approved, payment_issued]\n          until:\n            - event: {as: verified",
         "blocks: [claim_approved]\n          until:\n            - event: {as: verified"),
        ("""      - forbid_action:
          action: fraud_check_cleared
""", """      - flag: {code: high_fraud_score, message: "score {opened.score}"}
      - forbid_action:
          action: fraud_check_cleared
"""),
    )
    by_id = {change.id: change for change in changes.rules_changed}
    assert set(by_id) == {"coverage_verification_late", "coverage_before_settlement", "high_fraud_score_requires_siu"}
    late = by_id["coverage_verification_late"]
    assert (late.consequences_removed, late.consequences_added) == (
        ("flag late_first_contact (warning)",), ("flag late_first_contact (critical)",))
    coverage = by_id["coverage_before_settlement"]
    assert coverage.consequences_added == (
        "checkpoint coverage_confirmed blocks claim_approved until event as verified: type = coverage_verified",)
    assert coverage.consequences_removed == (
        "checkpoint coverage_confirmed blocks claim_approved, payment_issued until event as verified: "
        "type = coverage_verified",)
    high = by_id["high_fraud_score_requires_siu"]
    assert (high.consequences_removed, high.consequences_added) == ((), ("flag high_fraud_score (warning)",))
    assert high.conditions == ()


def test_a_reworded_message_shows_the_words():
    changes = diff(("reason: \"Fraud score {opened.score} is above 0.8: referral to special investigations is "
                    "mandatory\"", "reason: \"Score {opened.score}: refer to the SIU\""))
    (change,) = changes.rules_changed
    assert change.consequences_removed == ('require_action fraud_escalated, reason "Fraud score {opened.score} is '
                                           'above 0.8: referral to special investigations is mandatory"',)
    assert change.consequences_added == ('require_action fraud_escalated, reason "Score {opened.score}: refer to the '
                                         'SIU"',)


def test_description_and_priority_changes():
    changes = diff(("    description: A reopened claim is reassessed before any further approval or payment.\n"
                    "    priority: 50\n",
                    "    description: Reassess reopened claims.\n    priority: 55\n"))
    (change,) = changes.rules_changed
    assert change.to_dict() == {
        "id": "reopened_claim_needs_reassessment",
        "description": {"old": "A reopened claim is reassessed before any further approval or payment.",
                        "new": "Reassess reopened claims."},
        "priority": {"old": 50, "new": 55},
        "conditions": [],
        "consequences": {"removed": [], "added": []},
    }
    assert changes.lines() == [
        "rule changed: reopened_claim_needs_reassessment",
        '    description: "A reopened claim is reassessed before any further approval or payment." -> '
        '"Reassess reopened claims."',
        "    priority: 50 -> 55",
    ]


def test_catalog_attributes_derived_facts_and_header():
    changes = diff(
        ("name: motor_claim\n", "name: motor_claim_v2\n"),
        ("  - id: claim_reopened\n    label: Reopen the claim\n",
         "  - id: claim_transferred\n    label: Transfer\n  - id: claim_reopened\n    label: Reopen a claim\n"),
        ("  policy_age_days: number\n", ""),
        ("  channel: text\n", "  channel: text\n  excess: number\n"),
        ("  assessor: text ", "  assessor: number "),
        ("    since: timestamp\n  siu_referral_needed:", "    since: timestamp\n    detail: text\n"
                                                         "  siu_referral_needed:"),
    )
    assert changes.to_dict()["ruleset"] == [{"field": "name", "old": "motor_claim", "new": "motor_claim_v2"}]
    assert changes.to_dict()["actions"] == {
        "added": ["claim_transferred"], "removed": [],
        "changed": [{"id": "claim_reopened", "field": "label", "old": "Reopen the claim", "new": "Reopen a claim"}]}
    assert [(c.fact, c.field, c.old, c.new) for c in changes.fields] == [
        ("case", "policy_age_days", "number", None),
        ("case", "excess", None, "number"),
        ("event", "assessor", "text", "number"),
        ("fraud_risk", "detail", None, "text"),
    ]
    assert changes.lines() == [
        'ruleset name: "motor_claim" -> "motor_claim_v2"',
        "action added: claim_transferred",
        'action claim_reopened: label "Reopen the claim" -> "Reopen a claim"',
        "case attribute removed: policy_age_days (number)",
        "case attribute added: excess (number)",
        "event attribute retyped: assessor: text -> number",
        "derived fact fraud_risk field added: detail (text)",
    ]


def test_derived_types_added_and_removed():
    old = load_ruleset(TEXT)
    new = load_ruleset(edited(
        ("  siu_referral_needed:     # level 2", "  referral_needed:     # level 2"),
        ("fact: siu_referral_needed", "fact: referral_needed"),
        ("- siu_referral_needed: {as: referral}\n    then:", "- referral_needed: {as: referral}\n    then:"),
        ("- siu_referral_needed: {as: referral}\n      - no event",
         "- referral_needed: {as: referral}\n      - no event"),
    ))
    changes = diff_rulesets(old, new)
    assert (changes.derived_added, changes.derived_removed) == (("referral_needed",), ("siu_referral_needed",))
    assert {change.id for change in changes.rules_changed} == {
        "siu_referral_for_high_risk_large_claim", "siu_referral_before_settlement", "siu_referral_outstanding"}


@pytest.mark.parametrize("swap", [False, True])
def test_the_diff_runs_both_ways(swap):
    old, new = load_ruleset(TEXT), load_ruleset(edited(("  - id: glass_fast_track\n", "  - id: glass\n")))
    changes = diff_rulesets(*((new, old) if swap else (old, new)))
    assert [r.id for r in changes.rules_added] == (["glass_fast_track"] if swap else ["glass"])


# -- the command line ---------------------------------------------------------------------------------------------


def test_cli_diff_prints_the_changes(tmp_path):
    new = tmp_path / "motor_claim.yaml"
    new.write_text(edited(("age_days: {gt: 2}}", "age_days: {gt: 3}}")), encoding="utf-8")
    result = runner.invoke(app, ["rules", "diff", str(MOTOR), str(new)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "rule changed: coverage_verification_late",
        "    condition removed: event as fnol: type = fnol_received, age_days > 2",
        "    condition added: event as fnol: type = fnol_received, age_days > 3",
    ]


def test_cli_diff_of_identical_files():
    result = runner.invoke(app, ["rules", "diff", str(MOTOR), str(MOTOR)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "no differences"


def test_cli_diff_of_an_invalid_file_names_its_problems(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\n", encoding="utf-8")
    result = runner.invoke(app, ["rules", "diff", str(MOTOR), str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:" in result.output
