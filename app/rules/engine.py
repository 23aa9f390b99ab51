"""The durable-rules adapter: the only module that imports the engine.

It answers the positive queries of a compiled plan (app/rules/compiler.py) over one case's facts,
synchronously, and leaves the engine as it found it. How it stays clear of the engine's measured
faults (docs/engine.md):
- every fact carries an id from a table with no two 32-bit hashes alike, so no fact is taken for
  another, and identical events stay two facts;
- facts go in with one batch call per chunk, whose result still names the state when some facts
  match nothing; the queued matches are then read one by one, in this thread: no Host, no timers,
  no background dispatch;
- a sentinel fact and query make every evaluation fire at least once, so the state can be deleted
  whole afterwards (deleting a state that never fired crashes; retracting joined facts reads freed
  frame slots): memory stays flat over any number of cases;
- each chunk is a separate engine ruleset, locked while in use, sized by the compiler to the
  engine's stack and list limits, so any number of rules can match one fact.
"""

import json
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import durable_rules_engine

from app.core.errors import CasewiseError
from app.rules.compiler import ONE, SENTINEL_QUERY, SENTINEL_TYPE, TYPE, Chunk, Plan, fact_id
from app.rules.facts import Fact

SID = "casewise"

Binding = dict[str, Fact]


class EngineError(CasewiseError):
    """The rule engine failed; nothing of the evaluation is returned."""

    status_code = 500
    code = "rule_engine_error"


class _ChunkHandle:
    def __init__(self, chunk: Chunk) -> None:
        self.chunk = chunk
        self.lock = threading.Lock()
        try:
            self.handle = durable_rules_engine.create_ruleset(chunk.name, json.dumps(chunk.definition))
        except Exception as exc:  # the extension raises its own error type for definitions it refuses
            raise EngineError(f"the engine refused ruleset chunk {chunk.name}: {exc}") from exc
        weakref.finalize(self, durable_rules_engine.delete_ruleset, self.handle)


class RuleEngine:
    """Engine rulesets for one plan, ready to answer its queries for any number of cases."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._chunks = [_ChunkHandle(chunk) for chunk in plan.chunks]

    def answer(self, level: int, facts: list[Fact]) -> dict[str, list[Binding]]:
        """Every binding of every query at `level` over `facts`, by query name (empty lists included)."""
        answers: dict[str, list[Binding]] = {name: [] for chunk in self._chunks if chunk.chunk.level == level
                                             for name in chunk.chunk.queries}
        if not answers:
            return answers
        by_id = {fact_id(index): fact for index, fact in enumerate(facts)}
        payloads = self._payloads(facts)
        sentinel = json.dumps({"sid": SID, "id": fact_id(len(facts)), TYPE: SENTINEL_TYPE})
        for handle in self._chunks:
            if handle.chunk.level != level:
                continue
            batch = [payloads[i] for i, fact in enumerate(facts) if fact.type in handle.chunk.fact_types]
            for message in _run(handle, "[" + ",".join([*batch, sentinel]) + "]"):
                for name, frame in message.items():
                    if name == SENTINEL_QUERY:
                        continue
                    aliases = self.plan.queries[name].aliases
                    answers[name].append({alias: by_id[frame[f"a{i}"]["id"]] for i, alias in enumerate(aliases)})
        return answers

    def _payloads(self, facts: Iterable[Fact]) -> list[str]:
        projections = self.plan.projections
        payloads = []
        for index, fact in enumerate(facts):
            projection = projections.get(fact.type)
            fields = projection.engine_fields(fact) if projection else {}
            payloads.append(json.dumps({"sid": SID, "id": fact_id(index), TYPE: fact.type, ONE: 1, **fields}))
        return payloads


def _run(handle: _ChunkHandle, batch: str) -> list[Mapping[str, Any]]:
    """Assert the batch, read every queued match, and delete the state; the engine is left empty."""
    messages: list[Mapping[str, Any]] = []
    with handle.lock:
        started = False
        try:
            _, state = durable_rules_engine.assert_facts(handle.handle, batch)
            result = durable_rules_engine.start_action_for_state(handle.handle, state)
            started = result is not None
            if not started:
                raise EngineError(f"chunk {handle.chunk.name}: the sentinel did not fire")
            message = result[1]
            while message:
                messages.append(json.loads(message))
                message = durable_rules_engine.complete_and_start_action(handle.handle, state)
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"chunk {handle.chunk.name}: {exc}") from exc
        finally:
            _clear(handle, batch, started)
    return messages


def _clear(handle: _ChunkHandle, batch: str, started: bool) -> None:
    if started:
        durable_rules_engine.delete_state(handle.handle, SID)
    else:
        # Deleting a state that never fired crashes the engine; take the facts back out instead.
        durable_rules_engine.retract_facts(handle.handle, batch)
