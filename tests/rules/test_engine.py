"""The engine adapter at scale: thousands of rules on one fact, thousands of facts, flat memory."""

import subprocess
import sys
from datetime import timedelta

import pytest

from app.rules.compiler import compile_ruleset, engine_property, fact_id, fnv1a_32
from app.rules.evaluation import Evaluator
from app.rules.facts import CaseData, EventData
from app.rules.validator import load_ruleset
from tests.rules.fixtures import T0


def threshold_ruleset(count: int) -> str:
    rules = "\n".join(f"""  - id: r{i}
    when:
      - case: {{amount: {{gt: {i}}}}}
      - event: {{type: paid}}
    then:
      - flag: {{code: over_{i}, message: "over {i}"}}""" for i in range(count))
    return f"name: thresholds\ncase_type: t\ncase_attributes: {{amount: number}}\nrules:\n{rules}\n"


def test_two_thousand_rules_matching_one_fact_all_fire():
    evaluator = Evaluator(compile_ruleset(load_ruleset(threshold_ruleset(2_000))))
    assert len(evaluator.plan.chunks) > 1  # split to stay inside the engine's 64-entry alpha stack
    case = CaseData("C", "t", "open", T0, {"amount": 1_500}, (EventData("e1", "paid", T0),))
    outcome = evaluator.evaluate(case, as_of=T0)
    assert sorted(f.code for f in outcome.flags) == sorted(f"over_{i}" for i in range(1_500))


def test_thousands_of_events_in_one_case():
    text = """name: many
case_type: m
rules:
  - id: after_first
    when:
      - event: {as: first, index: 0}
      - event: {as: later, type: b, at: {gt: $first.at}}
    then:
      - flag: {code: later_b, message: "{later.event_id}"}
"""
    evaluator = Evaluator(compile_ruleset(load_ruleset(text)))
    events = tuple(EventData(f"e{i}", "b" if i % 2 else "a", T0 + timedelta(minutes=i)) for i in range(5_000))
    outcome = evaluator.evaluate(CaseData("C", "m", "open", T0, {}, events), as_of=T0)
    assert len(outcome.flags) == 2_500


def test_engine_ids_and_property_names_never_share_a_hash():
    ids = [fact_id(i) for i in range(200_000)]
    props = [engine_property(i) for i in range(5_000)]
    assert len({fnv1a_32(name) for name in ids}) == len(ids)
    assert len({fnv1a_32(name) for name in props}) == len(props)
    assert fnv1a_32("sid") not in {fnv1a_32(name) for name in props}


def test_the_hash_is_the_engines():
    assert fnv1a_32("id") == 926444256  # HASH_ID in durable-rules' state.h


def memory_growth_mb(cases: int) -> float:
    probe = subprocess.run([sys.executable, "-m", "tests.rules.memory_probe", str(cases)], capture_output=True,
                           text=True, check=True, timeout=1_800)
    return float(probe.stdout.strip())


def test_memory_stays_flat_over_many_cases():
    assert memory_growth_mb(20_000) < 10


@pytest.mark.slow
def test_memory_stays_flat_over_100k_cases():
    assert memory_growth_mb(100_000) < 50
