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

import contextlib
import re
import threading
import weakref

import durable_rules_engine

from app.core.errors import CasewiseError
from app.rules.compiler import SENTINEL_QUERY, SENTINEL_TYPE, SID, TYPE, Chunk, Plan, engine_json, fact_ids
from app.rules.facts import Fact

Row = tuple[Fact, ...]

# An answer holds each matched fact's JSON as it was asserted, under its alias a0, a1, ... in
# pattern order (several answers, as a list, when a query hands over many at once); every fact's
# JSON starts with its id, and inside a JSON string a quote is escaped, so this finds exactly the
# ids, answer after answer, alias after alias.
_IDS = re.compile(r'"a\d+":\{"id":"([^"]+)"')


class EngineError(CasewiseError):
    """The rule engine failed; nothing of the evaluation is returned."""

    status_code = 500
    code = "rule_engine_error"


class _ChunkHandle:
    def __init__(self, chunk: Chunk) -> None:
        self.chunk = chunk
        self.lock = threading.Lock()
        try:
            self.handle = durable_rules_engine.create_ruleset(chunk.name, engine_json(chunk.definition))
        except Exception as exc:  # the extension raises its own error type for definitions it refuses
            raise EngineError(f"the engine refused ruleset chunk {chunk.name}: {exc}") from exc
        weakref.finalize(self, durable_rules_engine.delete_ruleset, self.handle)


class RuleEngine:
    """Engine rulesets for one plan, ready to answer its queries for any number of cases."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._chunks = [_ChunkHandle(chunk) for chunk in plan.chunks]
        self._arity = {name: len(query.patterns) for name, query in plan.queries.items()}

    def answer(self, level: int, facts: list[Fact], projected: list[str] | None = None) -> dict[str, list[Row]]:
        """Every row of every query at `level` over `facts` (facts in pattern order), by query name.

        `projected` holds the engine JSON of the first facts from an earlier level of the same evaluation
        (a fact keeps its id from level to level); it is extended with the rest.
        """
        chunks = [handle for handle in self._chunks if handle.chunk.level == level]
        answers: dict[str, list[Row]] = {name: [] for handle in chunks for name in handle.chunk.queries}
        if not chunks:
            return answers
        ids = fact_ids(len(facts) + 1)[:len(facts) + 1]
        by_id = dict(zip(ids, facts, strict=False))
        projections = self.plan.projections
        payloads = projected if projected is not None else []
        payloads.extend(projections[fact.type].json(fact, ids[index])
                        for index, fact in enumerate(facts[len(payloads):], start=len(payloads)))
        sentinel = f'{{"id":"{ids[-1]}","sid":"{SID}","{TYPE}":"{SENTINEL_TYPE}"}}'
        for handle in chunks:
            types = handle.chunk.fact_types
            batch = [text for fact, text in zip(facts, payloads, strict=True) if fact.type in types]
            for message in _run(handle, "[" + ",".join([*batch, sentinel]) + "]"):
                name = message[2:message.index('"', 2)]
                if name == SENTINEL_QUERY:
                    continue
                arity, found = self._arity[name], [by_id[fact_id] for fact_id in _IDS.findall(message)]
                if len(found) != arity * message.count('"a0":{'):
                    raise EngineError(f"chunk {handle.chunk.name}: unexpected answer {message[:200]}")
                answers[name].extend(zip(*[iter(found)] * arity, strict=True))  # consecutive `arity` facts a row
        return answers


def _run(handle: _ChunkHandle, batch: str) -> list[str]:
    """Assert the batch, read every queued answer, and delete the state; the engine is left empty."""
    messages: list[str] = []
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
                messages.append(message)
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
        # Deleting a state that never fired crashes the engine; take the facts back out instead (best
        # effort: this path is already raising).
        with contextlib.suppress(Exception):
            durable_rules_engine.retract_facts(handle.handle, batch)
