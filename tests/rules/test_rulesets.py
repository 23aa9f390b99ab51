"""The example rulesets in rulesets/: they validate, their suites pass, and every rule is tested."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.rules.registry import evaluator_for, ruleset_files
from app.rules.testing import load_suite, run_suite, suite_path
from app.rules.validator import load_ruleset_file

RULESETS = Path(__file__).parents[2] / "rulesets"
FILES = ruleset_files([RULESETS])


def test_there_are_example_rulesets_for_three_domains():
    assert {load_ruleset_file(path).case_type for path in FILES} >= {"motor_claim", "fraud_investigation",
                                                                      "benefit_review"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_suite_passes_and_fires_every_rule(path):
    ruleset = load_ruleset_file(path)
    tests = load_suite(suite_path(path).read_text(), source=str(suite_path(path)), case_type=ruleset.case_type)
    result = run_suite(evaluator_for(ruleset), tests, source=str(path))
    failures = {test.name: test.failures for test in result.results if not test.passed}
    assert failures == {}
    assert result.unfired == []


def test_the_cli_validates_and_tests_the_folder():
    runner = CliRunner()
    for command in ("validate", "test"):
        result = runner.invoke(app, ["rules", command, str(RULESETS)])
        assert result.exit_code == 0, result.output


def test_the_cli_reports_a_broken_ruleset_with_its_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: bad\ncase_type: x\nrules:\n  - id: r\n    when: [{case: {nope: 1}}]\n"
                                       "    then: [{flag: {code: c, message: m}}]\n")
    result = CliRunner().invoke(app, ["rules", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "bad.yaml:5: rule r: `case` has no field 'nope'" in result.output


def test_facts_reference_is_current():
    generated = CliRunner().invoke(app, ["rules", "facts"]).stdout
    assert (RULESETS.parent / "docs" / "facts.md").read_text() == generated
