"""Ruleset test suites (`rulesets/<name>.tests.yaml`): given a case and its events, expect an outcome.

A suite is YAML:

    as_of: 2025-03-15T00:00:00Z          # evaluation time for every test (a test may set its own)
    tests:
      - name: a large claim waits for the supervisor
        case: {status: open, opened_at: 2025-03-01T09:00:00Z, attributes: {claim_amount: 12500}}
        events:
          - {type: fnol_received, at: 2025-03-01T09:00:00Z, actor: system}   # event_id defaults to e1, e2...
        expect:
          flags: [large_claim]            # present (by code)
          no_flags: [fraud_suspected]     # absent
          open_checkpoints: [supervisor_signoff]

Expectation keys: flags, open_checkpoints, satisfied_checkpoints, checkpoints (either status),
required, forbidden, recommended, blocked (actions), derived (fact types), fired (rule ids), each with
a `no_` twin for absence; and `error: <rule id>` for a consequence that must fail naming that rule.
"""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.schemas import parse_iso8601
from app.rules.evaluation import Evaluator, RuleConsequenceError
from app.rules.facts import CaseData, EventData
from app.rules.loader import LineDict, YamlProblem, line_of, load_yaml
from app.rules.outcome import OUTCOME_ASPECTS
from app.rules.validator import Problem, RulesetInvalid

EXPECTATIONS = (*OUTCOME_ASPECTS, *(f"no_{key}" for key in OUTCOME_ASPECTS), "error")


@dataclass(frozen=True)
class CaseTest:
    name: str
    line: int
    case: CaseData
    as_of: datetime
    expect: dict[str, Any]


@dataclass
class TestResult:
    name: str
    line: int
    failures: list[str] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class SuiteResult:
    source: str
    results: list[TestResult]
    rule_ids: list[str]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def fired(self) -> set[str]:
        return {rule_id for result in self.results for rule_id in result.fired}

    @property
    def unfired(self) -> list[str]:
        """Rules no test fires: what the suite leaves untested."""
        return [rule_id for rule_id in self.rule_ids if rule_id not in self.fired]

    @property
    def coverage(self) -> float:
        return len(self.fired & set(self.rule_ids)) / len(self.rule_ids) if self.rule_ids else 1.0


def load_suite(text: str, *, source: str, case_type: str) -> list[CaseTest]:
    """The tests in a suite; raises RulesetInvalid naming the line of each malformed test."""
    problems: list[Problem] = []
    try:
        document = load_yaml(text)
    except YamlProblem as exc:
        raise RulesetInvalid([Problem(source, exc.line, None, exc.message)]) from None
    if not isinstance(document, dict) or not isinstance(document.get("tests"), list):
        raise RulesetInvalid([Problem(source, 1, None, "a test suite is a mapping with a `tests` list")])
    default_as_of = document.get("as_of")
    tests = []
    for index, entry in enumerate(document["tests"]):
        try:
            tests.append(_case_test(entry, index, default_as_of, case_type))
        except _SuiteError as exc:
            problems.append(Problem(source, exc.line or line_of(document["tests"], index), None, exc.message))
    if problems:
        raise RulesetInvalid(problems)
    return tests


def run_suite(evaluator: Evaluator, tests: list[CaseTest], *, source: str) -> SuiteResult:
    """Evaluate every test's case and compare with its expectations."""
    results = []
    for test in tests:
        result = TestResult(test.name, test.line)
        expected_error = test.expect.get("error")
        try:
            outcome = evaluator.evaluate(test.case, as_of=test.as_of)
        except RuleConsequenceError as exc:
            if expected_error != exc.rule_id:
                result.failures.append(f"evaluation failed: {exc.message}")
            result.fired.add(exc.rule_id)
            results.append(result)
            continue
        if expected_error:
            result.failures.append(f"expected rule {expected_error} to fail, but the evaluation succeeded")
        result.fired = {firing.rule_id for firing in outcome.trace}
        for key, names in test.expect.items():
            if key == "error":
                continue
            absent = key.startswith("no_")
            present = OUTCOME_ASPECTS[key.removeprefix("no_")](outcome)
            wrong = sorted(set(names) & present) if absent else sorted(set(names) - present)
            if wrong:
                what = key.removeprefix("no_").replace("_", " ")
                got = ", ".join(sorted(present)) or "none"
                verdict = "present, expected absent" if absent else f"missing (got: {got})"
                result.failures.append(f"{what}: {', '.join(wrong)} {verdict}")
        results.append(result)
    return SuiteResult(source, results, [rule.id for rule in evaluator.plan.ruleset.rules])


class _SuiteError(Exception):
    def __init__(self, line: int, message: str) -> None:
        self.line, self.message = line, message


def _case_test(entry: Any, index: int, default_as_of: Any, case_type: str) -> CaseTest:
    if not isinstance(entry, LineDict):
        raise _SuiteError(0, "each test is a mapping with name, case, events and expect")
    unknown = set(entry) - {"name", "as_of", "case", "events", "expect"}
    if unknown:
        raise _SuiteError(entry.line, f"unknown key(s) {', '.join(sorted(unknown))} in a test")
    name = entry.get("name") or f"test {index + 1}"
    case = entry.get("case") or LineDict()
    if not isinstance(case, dict):
        raise _SuiteError(line_of(entry, "case"), "`case` must be a mapping")
    as_of = _time(entry.get("as_of", default_as_of), line_of(entry, "as_of") or entry.line, "as_of")
    events = []
    for number, event in enumerate(entry.get("events") or [], start=1):
        if not isinstance(event, dict) or "type" not in event or "at" not in event:
            raise _SuiteError(line_of(entry.get("events"), number - 1), "an event needs at least `type` and `at`")
        events.append(EventData(event_id=str(event.get("event_id", f"e{number}")), type=str(event["type"]),
                                at=_time(event["at"], line_of(event, "at"), "at"), actor=event.get("actor"),
                                attributes=dict(event.get("attributes") or {})))
    opened_at = case.get("opened_at")
    opened_at = _time(opened_at, case.line, "opened_at") if opened_at else (events[0].at if events else as_of)
    expect = entry.get("expect") or {}
    for key, names in expect.items():
        if key not in EXPECTATIONS:
            known = ", ".join(EXPECTATIONS)
            raise _SuiteError(line_of(expect, key), f"unknown expectation {key!r}; use one of {known}")
        if key != "error" and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise _SuiteError(line_of(expect, key), f"`{key}` takes a list of names")
    return CaseTest(
        name=str(name), line=entry.line, as_of=as_of, expect=dict(expect),
        case=CaseData(case_id=str(case.get("case_id", f"test-{index + 1}")), case_type=case_type,
                      status=str(case.get("status", "open")),
                      opened_at=opened_at,
                      attributes=dict(case.get("attributes") or {}), events=tuple(events)))


def _time(value: Any, line: int, what: str) -> datetime:
    if value is None:
        raise _SuiteError(line, f"`{what}` is needed (an ISO-8601 time such as 2025-03-15T00:00:00Z)")
    try:
        return parse_iso8601(str(value))
    except ValueError as exc:
        raise _SuiteError(line, f"`{what}`: {exc}") from None


def suite_path(ruleset_path: Path) -> Path:
    """Where a ruleset's test suite lives: beside it, `<name>.tests.yaml`."""
    return ruleset_path.with_name(ruleset_path.name.removesuffix(".yaml") + ".tests.yaml")
