"""The engine behaviours the adapter works around (docs/engine.md), shown on the raw engine.

If a durable-rules upgrade fixes one of these, its test fails: the workaround can then be revisited.
Only the deterministic faults are here; the memory faults need valgrind to show reliably.
"""

import itertools
import json

import durable_rules_engine as engine

FACTS = [{"sid": "s", "id": "f1", "t": "event", "type": "A", "region": "north", "amount": 500},
         {"sid": "s", "id": "f2", "t": "event", "type": "B"}]


def firings(rules: dict, facts: list[dict]) -> int:
    handle = engine.create_ruleset(f"fault{id(rules)}{len(facts)}", json.dumps(rules))
    try:
        _, state = engine.assert_facts(handle, json.dumps(facts))
        count = 0
        result = engine.start_action_for_state(handle, state)
        while result:
            count += 1
            result = engine.complete_and_start_action(handle, state)
        return count
    finally:
        engine.delete_ruleset(handle)


def test_or_fires_twice_when_both_branches_match():
    branches = {"$or": [{"region": "north"}, {"$gt": {"amount": 100}}]}
    rules = {"r": {"all": [{"m": {"$and": [{"t": "event"}, branches]}}]}, "sentinel": {"all": [{"m": {"t": "event"}}]}}
    assert firings(rules, FACTS[:1]) == 2 + 1  # the `$or` rule twice, the sentinel once


def test_negation_in_a_batch_depends_on_fact_order():
    rules = {"r": {"all": [{"a": {"$and": [{"t": "event"}, {"type": "A"}]}},
                           {"b$not": {"$and": [{"t": "event"}, {"type": "B"}]}}]}}
    results = {firings(rules, list(order)) for order in itertools.permutations(FACTS)}
    assert results == {0, 1}  # correct only when B comes first
