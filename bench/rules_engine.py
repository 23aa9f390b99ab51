"""Per-case rule evaluation: the durable-rules adapter against raw durable-rules and CLIPS (clipspy).

Run: .venv/bin/python -m bench.rules_engine --cases 2000 --rules 50 --events 50 --seed 1

A seeded generator writes a ruleset as YAML (loaded by the real validator) and N distinct cases. Each
case is evaluated three ways, each timed from CaseData to firings, taking turns case by case:
- adapter: Evaluator(compile_ruleset(ruleset)).evaluate(case, as_of=...), the full path to a RuleOutcome;
- raw durable: the plan's chunk definitions as engine rulesets; facts written as JSON text; one batch
  `assert_facts` per chunk; the pending actions run in this thread (`start_action_for_state`,
  `complete_and_start_action`), fact ids read from each action's text; then `delete_state` (a sentinel
  fact guarantees a firing, so the state can be deleted whole). `no` patterns as the adapter does them
  (main query minus blocker bindings): the engine's own negation is order dependent in a batch;
- CLIPS: the ruleset translated to deftemplates and defrules (slot constraints, joins as predicate
  constraints, `not` CEs for absence), the facts loaded with one `load_facts` call, `run()`, firings
  collected in a global, `reset()`.
Two rounds. Evaluation, the figure that counts: each engine's matches go through the same outcome
assembly (consequences, messages, ordering) to a RuleOutcome, which must be identical across the three.
Matching only: up to the firings, as (rule id, matched fact keys), which must be identical too. The
workload has no derived facts, `until`s or operators CLIPS lacks (`matches`, list `exists`,
`not_contains`).
"""

import argparse
import cProfile
import gc
import json
import pstats
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from json.encoder import encode_basestring_ascii
from typing import Any

import clips
import durable_rules_engine
import yaml

from app.rules.compiler import SENTINEL_QUERY, SENTINEL_TYPE, SID, TYPE, Plan, compile_ruleset, fact_ids
from app.rules.evaluation import Evaluator, Match, OutcomeBuilder, matches_of, satisfied_of
from app.rules.facts import COUNTS_PREFIX, CaseData, EventData, Fact, FactSchema, build_facts, fact_schema
from app.rules.model import Op, Pattern, Ref, Ruleset, Test
from app.rules.outcome import RuleOutcome
from app.rules.validator import load_ruleset

AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
DAY = 86_400
# event types, most frequent first (weights), so some rules fire for many events and some rarely
EVENT_TYPES = {
    "note_added": 20, "document_received": 16, "call_logged": 13, "customer_contacted": 11,
    "assessment_done": 8, "payment_requested": 7, "fraud_check_opened": 6, "fraud_check_cleared": 5,
    "reminder_sent": 5, "supervisor_approved": 4, "escalated": 3, "legal_review": 2,
}
COMMON, MID, RARE = list(EVENT_TYPES)[:4], list(EVENT_TYPES)[4:8], list(EVENT_TYPES)[8:]
REGIONS = ["north", "south", "east", "west", "central"]
CHANNELS = ["web", "phone", "agent"]
ACTORS = ["ana", "ben", "chloe", "dev", "eli", "fay"]
DOCUMENTS = ["invoice", "photo", "report", "id_card"]
ACTIONS = ["approve", "pay", "reject", "request_documents", "escalate", "call_customer"]

Firings = list[tuple[str, tuple[tuple[str, str], ...]]]  # sorted (rule id, sorted (alias, fact key))


# -- workload ----------------------------------------------------------------------------------------

def _join(kind: str, gap: Callable[[random.Random], dict[str, str]]) -> tuple[str, Callable]:
    def make(r: random.Random) -> list:
        first, second = r.choice(COMMON + MID), r.choice(COMMON + MID)
        return [{"event": {"as": "a", "type": first}}, {"event": {"as": "b", "type": second, **gap(r)}}]

    return kind, make


TEMPLATES: list[tuple[str, Callable[[random.Random], list]]] = [
    ("case_amount", lambda r: [{"case": {"claim_amount": {"gt": r.choice([5000, 20000, 60000, 95000])}}}]),
    ("case_region", lambda r: [{"case": {"region": r.choice(REGIONS), "injury": True}}]),
    ("case_in", lambda r: [{"case": {"region": {"in": r.sample(REGIONS, 2)}, "channel": r.choice(CHANNELS)}}]),
    ("case_between", lambda r: [{"case": {"risk_score": {"between": sorted(round(r.random(), 2) for _ in "ab")}}}]),
    ("event_type", lambda r: [{"event": {"type": r.choice(COMMON + MID)}}]),
    ("event_amount", lambda r: [{"event": {"type": r.choice(COMMON + MID),
                                           "amount": {"gte": r.choice([1000, 2500, 4500])}}}]),
    ("event_docs", lambda r: [{"event": {"type": r.choice(COMMON), "documents": {"contains": r.choice(DOCUMENTS)}}}]),
    ("event_actor", lambda r: [{"event": {"type": r.choice(COMMON + MID), "actor": {"in": r.sample(ACTORS, 2)},
                                          "age_days": {"lt": 30}}}]),
    _join("join_after", lambda r: {"at": {"gt": "$a.at"}}),
    _join("join_within", lambda r: {"at": {"gt": "$a.at", "lt": f"$a.at + {r.choice([1, 3, 7])} days"}}),
    _join("join_late", lambda r: {"at": {"gt": f"$a.at + {r.choice([20, 40])} days"}}),
    _join("join_actor", lambda r: {"actor": "$a.actor", "at": {"gt": "$a.at"}}),
    ("case_event_time", lambda r: [{"case": {"channel": r.choice(CHANNELS)}},
                                   {"event": {"type": r.choice(COMMON + MID),
                                              "at": {"lt": f"$case.opened_at + {r.choice([2, 5, 10])} days"}}}]),
    # `exists: true` because an ordering join on a field the other fact lacks fails the whole evaluation
    # (engine error 311, ERR_PROPERTY_NOT_FOUND), where docs/rules.md says it is false: an adapter bug.
    ("case_event_amount", lambda r: [
        {"case": {"region": {"in": r.sample(REGIONS, 3)}, "claim_amount": {"exists": True}}},
        {"event": {"type": r.choice(MID), "amount": {"gte": "$case.claim_amount"}}}]),
    ("no_event", lambda r: [{"case": {"claim_amount": {"gt": r.choice([10000, 40000])}}},
                            {"no event": {"type": r.choice(MID + RARE)}}]),
    ("no_followup", lambda r: [{"event": {"as": "a", "type": r.choice(MID)}},
                               {"no event": {"type": r.choice(COMMON + MID), "at": {"gt": "$a.at"}}}]),
    ("no_followup_within", lambda r: [
        {"event": {"as": "a", "type": r.choice(COMMON + MID)}},
        {"no event": {"type": r.choice(COMMON + MID),
                      "at": {"gt": "$a.at", "lte": f"$a.at + {r.choice([2, 5])} days"}}}]),
    ("history_count", lambda r: [{"history": {f"counts.{r.choice(MID + RARE)}": {"gte": r.choice([2, 4, 6])}}}]),
    ("history_case", lambda r: [{"case": {"region": r.choice(REGIONS)}},
                                {"history": {"last_event_type": {"in": r.sample(COMMON, 2)}}}]),
    ("rare_event", lambda r: [{"event": {"type": r.choice(RARE), "actor": r.choice(ACTORS)}}]),
    ("any_case", lambda r: [{"any": [{"case": {"injury": True, "channel": r.choice(CHANNELS)}},
                                     {"case": {"claim_amount": {"gt": r.choice([30000, 70000])}}}]}]),
    ("exists", lambda r: r.choice([[{"case": {"injury": {"exists": False}}}],
                                   [{"event": {"type": r.choice(COMMON), "approver": {"exists": True}}}]])),
    ("case_join_join", lambda r: [{"case": {"risk_score": {"gt": 0.5}}}, {"event": {"as": "a", "type": r.choice(MID)}},
                                  {"event": {"as": "b", "type": r.choice(COMMON),
                                             "at": {"gt": "$a.at", "lt": "$a.at + 7 days"}}}]),
    ("case_incident", lambda r: [{"case": {"incident_at": {"lt": "2025-01-15"},
                                           "claim_amount": {"gte": r.choice([1000, 50000])}}}]),
    ("history_stale", lambda r: [{"history": {"days_since_last_event": {"gt": 1}}}, {"case": {"status": "open"}}]),
]


def _consequence(index: int, when: list, r: random.Random) -> dict:
    aliases = {body.get("as", key) for item in when for key, body in item.items() if not key.startswith(("no ", "any"))}
    quote = next((q for alias, q in (("case", " {case.case_id}"), ("a", " {a.type} at {a.at}"),
                                     ("event", " {event.type}")) if alias in aliases), "")
    if any("any" in item for item in when):
        quote = " {case.case_id}"
    kind = index % 5
    if kind == 0:
        return {"flag": {"code": f"flag_{index}", "severity": r.choice(["info", "warning", "critical"]),
                         "message": f"rule {index} holds{quote}"}}
    if kind == 1:
        return {"checkpoint": {"id": f"check_{index}", "blocks": r.sample(ACTIONS, 2), "message": f"check{quote}"}}
    verb = ("require_action", "forbid_action", "recommend_action")[kind - 2]
    return {verb: {"action": r.choice(ACTIONS), "reason": f"rule {index}{quote}"}}


def ruleset_yaml(n_rules: int, r: random.Random) -> str:
    """A ruleset of `n_rules` rules cycling through TEMPLATES with random parameters, as YAML."""
    rules = []
    for index in range(n_rules):
        kind, make = TEMPLATES[index % len(TEMPLATES)]
        when = make(r)
        rules.append({"id": f"r{index:03d}_{kind}", "priority": r.randint(0, 3), "when": when,
                      "then": [_consequence(index, when, r)]})
    document = {
        "name": "bench", "case_type": "bench", "description": "Generated by bench.rules_engine.",
        "actions": [{"id": action} for action in ACTIONS],
        "case_attributes": {"claim_amount": "number", "region": "text", "injury": "boolean", "channel": "text",
                            "incident_at": "timestamp", "risk_score": "number"},
        "event_attributes": {"amount": "number", "documents": "list", "approver": "text"},
        "rules": rules,
    }
    return yaml.safe_dump(document, sort_keys=False, width=200)


def make_cases(n: int, n_events: int, r: random.Random) -> list[CaseData]:
    """`n` distinct random cases of `n_events` events each (some attributes missing, as in real data)."""
    cases = []
    for c in range(n):
        opened = AS_OF - timedelta(seconds=r.randint(10 * DAY, 120 * DAY))
        attributes: dict[str, Any] = {
            "region": r.choice(REGIONS), "channel": r.choice(CHANNELS), "risk_score": round(r.random(), 3),
            "incident_at": (opened - timedelta(days=r.randint(0, 200))).isoformat(),
        }
        if r.random() < 0.95:
            attributes["claim_amount"] = round(r.lognormvariate(9, 1.2), 2)
        if r.random() < 0.9:
            attributes["injury"] = r.random() < 0.3
        span = int((AS_OF - opened).total_seconds())
        events = []
        for k in range(n_events):
            event_attributes: dict[str, Any] = {}
            if r.random() < 0.7:
                event_attributes["amount"] = r.randint(10, 5000)
            if r.random() < 0.6:
                event_attributes["documents"] = r.sample(DOCUMENTS, r.randint(0, 3))
            if r.random() < 0.2:
                event_attributes["approver"] = r.choice(ACTORS)
            events.append(EventData(
                event_id=f"c{c}-e{k}", type=r.choices(list(EVENT_TYPES), weights=list(EVENT_TYPES.values()))[0],
                at=opened + timedelta(seconds=r.randint(0, span)),
                actor=r.choice(ACTORS) if r.random() < 0.9 else None, attributes=event_attributes))
        cases.append(CaseData(case_id=f"c{c:05d}", case_type="bench", status=r.choice(["open", "open", "pending"]),
                              opened_at=opened, attributes=attributes, events=tuple(events)))
    return cases


def _facts(ruleset: Ruleset, case: CaseData) -> list[Fact]:
    return build_facts(case, case_attributes=ruleset.case_attributes, event_attributes=ruleset.event_attributes,
                       as_of=AS_OF)


# -- the adapter -------------------------------------------------------------------------------------

def adapter_firings(evaluator: Evaluator, case: CaseData) -> Firings:
    """The adapter up to its matches, without consequences: facts, engine answers, composition."""
    facts = _facts(evaluator.plan.ruleset, case)
    answers = evaluator.engine.answer(0, facts)
    return sorted((rule_plan.rule.id, match.identity) for rule_plan in evaluator.plan.rules
                  for match in matches_of(rule_plan, answers))


def adapter_breakdown(evaluator: Evaluator, cases: Sequence[CaseData], clock: Callable[[], float]) -> dict[str, float]:
    """Mean ms per case of each stage of Evaluator.evaluate, replayed stage by stage."""
    plan, ruleset = evaluator.plan, evaluator.plan.ruleset
    spent = dict.fromkeys(("facts", "projection + JSON", "engine calls", "composition", "outcome"), 0.0)
    ids = fact_ids(1_000)
    for case in cases:
        t0 = clock()
        facts = _facts(ruleset, case)
        t1 = clock()
        [plan.projections[fact.type].json(fact, ids[i]) for i, fact in enumerate(facts)]  # done again in answer()
        t2 = clock()
        builder = OutcomeBuilder(evaluator.schema, ruleset.version)
        engine = composition = 0.0
        for level in range(plan.levels):
            ta = clock()
            answers = evaluator.engine.answer(level, facts + builder.derived_facts)
            tb = clock()
            for rule_plan in plan.rules:
                if rule_plan.level == level:
                    builder.fire_rule(matches_of(rule_plan, answers), satisfied_of(rule_plan, answers))
            engine, composition = engine + tb - ta, composition + clock() - tb
        t3 = clock()
        builder.outcome(ruleset.name, case.case_id, AS_OF)
        t4 = clock()
        for stage, seconds in zip(spent, (t1 - t0, t2 - t1, engine - (t2 - t1), composition, t4 - t3), strict=True):
            spent[stage] += seconds
    return {stage: seconds * 1e3 / len(cases) for stage, seconds in spent.items()}


# -- raw durable-rules -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _RawConjunction:
    main: str
    aliases: tuple[str, ...]
    # per `no` pattern: its query, the positions in the main row of its anchors (the facts it compares with)
    excluders: tuple[tuple[str, tuple[int, ...]], ...]


class RawDurable:
    """The plan's queries in raw engine rulesets (one per chunk), driven the fastest correct way we found."""

    # A frame holds each matched fact's JSON as asserted, and every record starts with its id. Inside a
    # JSON string a quote is escaped, so `"id":"` only ever starts an id: no json.loads needed.
    FRAME = re.compile(r'"a(\d+)":\{"id":"([^"]+)"')

    def __init__(self, plan: Plan) -> None:
        if plan.levels != 1 or any(any(rule_plan.until.values()) for rule_plan in plan.rules):
            raise SystemExit("raw durable: this benchmark drives level-0 plans without checkpoints only")
        self.plan = plan
        self.ruleset = plan.ruleset
        self.chunks = []
        for chunk in plan.chunks:
            handle = durable_rules_engine.create_ruleset(chunk.name + "/raw", json.dumps(chunk.definition))
            self.chunks.append((handle, chunk.fact_types))
        self.excluder_names = {e.query.name for rule_plan in plan.rules for c in rule_plan.when for e in c.excluders}
        self.bindings = [0, 0]  # engine answers so far: of main queries, of excluder queries
        self.arity = {name: len(query.aliases) for name, query in plan.queries.items()}
        self.rules = [(rule_plan.rule.id, tuple(
            _RawConjunction(c.main.name, c.main.aliases,
                            tuple((e.query.name, tuple(c.main.aliases.index(a) for a in e.anchors))
                                  for e in c.excluders))
            for c in rule_plan.when)) for rule_plan in plan.rules]

    def firings(self, case: CaseData) -> Firings:
        return self.facts_and_firings(case)[1]

    def facts_and_firings(self, case: CaseData) -> tuple[list[Fact], Firings]:
        facts = _facts(self.ruleset, case)
        ids = fact_ids(len(facts) + 1)
        payloads = [self.plan.projections[fact.type].json(fact, ids[i]) for i, fact in enumerate(facts)]
        sentinel = f'{{"id":"{ids[len(facts)]}","sid":"{SID}","{TYPE}":"{SENTINEL_TYPE}"}}'
        index_of = {fact_id: i for i, fact_id in enumerate(ids[:len(facts)])}
        keys = [fact.key for fact in facts]
        arity = self.arity
        answers: dict[str, list[tuple[str, ...]]] = {name: [] for name in arity}
        for handle, types in self.chunks:
            batch = [text for fact, text in zip(facts, payloads, strict=True) if fact.type in types] + [sentinel]
            _, state = durable_rules_engine.assert_facts(handle, "[" + ",".join(batch) + "]")
            result = durable_rules_engine.start_action_for_state(handle, state)
            message = result[1]  # the sentinel always fires, so there is at least one action
            while message:
                name = message[2:message.index('"', 2)]
                if name != SENTINEL_QUERY:
                    pairs, n = self.FRAME.findall(message), arity[name]
                    if len(pairs) % n or any(int(a) != i % n for i, (a, _) in enumerate(pairs)):
                        raise SystemExit(f"raw durable: unexpected message {message[:200]}")
                    rows = answers[name]
                    for start in range(0, len(pairs), n):
                        rows.append(tuple(keys[index_of[fact]] for _, fact in pairs[start:start + n]))
                message = durable_rules_engine.complete_and_start_action(handle, state)
            durable_rules_engine.delete_state(handle, SID)
        for name, rows in answers.items():
            self.bindings[name in self.excluder_names] += len(rows)
        fired: Firings = []
        for rule_id, conjunctions in self.rules:
            distinct = set()
            for c in conjunctions:
                excluders = []
                for name, positions in c.excluders:
                    index: dict[tuple[str, ...], list[str]] = {}
                    for row in answers[name]:
                        index.setdefault(row[:len(positions)], []).append(row[-1])
                    excluders.append((index, positions))
                for row in answers[c.main]:
                    if any(any(key not in row for key in index.get(tuple(row[i] for i in positions), ()))
                           for index, positions in excluders):
                        continue
                    distinct.add(tuple(sorted(zip(c.aliases, row, strict=True))))
            fired += ((rule_id, identity) for identity in distinct)
        fired.sort()
        return facts, fired


# -- CLIPS -------------------------------------------------------------------------------------------

def _clips_text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _clips_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return _clips_text(value)
    return repr(value)


_JSON_WRITERS: dict[str, Callable[[Any], str]] = {
    "text": encode_basestring_ascii, "number": repr, "timestamp": repr, "boolean": lambda v: "true" if v else "false",
    "list": lambda v: json.dumps(list(v)),
}
_WRITERS: dict[str, Callable[[Any], str]] = {
    "text": _clips_text, "number": repr, "timestamp": repr, "boolean": lambda v: "TRUE" if v else "FALSE",
    "list": lambda v: " ".join(map(_clips_text, v)),
}


class ClipsEngine:
    """The ruleset translated to CLIPS deftemplates and defrules, evaluated in one clipspy Environment."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.schema: FactSchema = fact_schema(ruleset.case_attributes, ruleset.event_attributes, ruleset.derived)
        self.slots: dict[str, dict[str, str]] = {fact: {} for fact in ("case", "event", "history")}
        for rule in ruleset.rules:
            for alternative in rule.when:
                names = {p.alias: p.fact for p in alternative}
                for pattern in alternative:
                    for test in pattern.tests:
                        self.slot(pattern.fact, test.field)
                        if isinstance(test.value, Ref):
                            self.slot(names[test.value.alias], test.value.field)
        self.env = clips.Environment()
        for fact, slots in self.slots.items():
            fields = " ".join(f"({'multislot' if self.kind(fact, f) == 'list' else 'slot'} {s})"
                              for f, s in slots.items())
            self.env.build(f"(deftemplate {fact} (slot key) {fields})")
        self.writers = {fact: [(f, f"({s} ", 0 if fact == "history" and f.startswith(COUNTS_PREFIX) else None,
                                _WRITERS[self.kind(fact, f)]) for f, s in slots.items()]
                        for fact, slots in self.slots.items()}
        # A fact's `key` slot holds its position in the case's fact list. Firings collect in a global
        # string, "rule alternative position...;" per firing, read once per case: a Python callback per
        # firing, or a multifield converted value by value, costs more. `reset()` empties it.
        self.env.build('(defglobal ?*fired* = "")')
        self.aliases: list[list[tuple[str, ...]]] = []
        for index, rule in enumerate(ruleset.rules):
            self.aliases.append([])
            for w, alternative in enumerate(rule.when):
                self.aliases[index].append(tuple(p.alias for p in alternative if not p.negated))
                self.env.build(self.defrule(index, w, alternative))
        self.fired = self.env.find_global("fired")
        # clipspy's error router is asked about every character CLIPS parses, which makes `load_facts`
        # about 20 times slower; deactivated, CLIPS errors still raise, printed by CLIPS itself.
        for router in list(self.env.routers()):
            router.deactivate()

    def kind(self, fact: str, field: str) -> str:
        kind = self.schema.field_type(fact, field)
        assert kind is not None, (fact, field)
        return kind

    def slot(self, fact: str, field: str) -> str:
        slots = self.slots[fact]
        if field not in slots:
            slots[field] = f"{re.sub(r'[^A-Za-z0-9_]', '_', field)}_{len(slots)}"
        return slots[field]

    def defrule(self, index: int, w: int, alternative: Sequence[Pattern]) -> str:
        bound: dict[str, tuple[int, str]] = {}  # alias -> (pattern position, fact type)
        joined: dict[str, set[str]] = {}  # alias -> fields other patterns compare with
        for pattern in alternative:
            for test in pattern.tests:
                if isinstance(test.value, Ref):
                    joined.setdefault(test.value.alias, set()).add(test.value.field)
        ces = []
        for position, pattern in enumerate(alternative):
            ce = self.pattern_ce(position, pattern, bound, joined)
            ces.append(f"(not {ce})" if pattern.negated else ce)
            if not pattern.negated:
                bound[pattern.alias] = (position, pattern.fact)
        keys = " ".join(f'" " ?k{position}' for position, _ in bound.values())
        return (f"(defrule r{index}_w{w} {' '.join(ces)} "
                f'=> (bind ?*fired* (str-cat ?*fired* {index} " " {w} {keys} ";")))')

    def pattern_ce(self, position: int, pattern: Pattern, bound: dict[str, tuple[int, str]],
                   joined: dict[str, set[str]]) -> str:
        prefix = f"n{position}" if pattern.negated else f"{position}"
        distinct = "".join(f"&~?k{p}" for p, fact in bound.values() if fact == pattern.fact)
        slots = [f"(key ?k{prefix}{distinct})"]
        by_field: dict[str, list] = {}
        for test in pattern.tests:
            by_field.setdefault(test.field, []).append(test)
        # a field a later pattern joins on is bound even when untested here
        for field in sorted(joined.get(pattern.alias, set()) - set(by_field)):
            slot = self.slots[pattern.fact][field]
            slots.append(f"({slot} ?v{prefix}_{slot})")
        for field, tests in by_field.items():
            slot = self.slots[pattern.fact][field]
            kind = self.kind(pattern.fact, field)
            var = f"?v{prefix}_{slot}"
            terms = [self.term(test, var, kind, bound) for test in tests]
            if kind == "list":
                slots.append(f"({slot} ${var}{''.join(terms)})")
            else:
                slots.append(f"({slot} {var}{''.join(terms)})")
        return f"({pattern.fact} {' '.join(slots)})"

    def term(self, test: Test, var: str, kind: str, bound: dict[str, tuple[int, str]]) -> str:
        op, value = test.op, test.value
        numeric = kind in ("number", "timestamp")
        present = f"(numberp {var})" if numeric else f"(neq {var} nil)"
        if isinstance(value, Ref):
            position, fact = bound[value.alias]
            other = f"?v{position}_{self.slots[fact][value.field]}"
            guard = f"{present} " + (f"(numberp {other})" if numeric else f"(neq {other} nil)")
            rhs = f"(+ {other} {value.offset!r})" if value.offset else other
            compare = {Op.EQ: "=" if numeric else "eq", Op.NE: "<>" if numeric else "neq", Op.GT: ">",
                       Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}[op]
            return f"&:(and {guard} ({compare} {var} {rhs}))"
        if op == Op.EXISTS and kind != "list":
            return "&~nil"
        if op == Op.MISSING and kind != "list":
            return "&nil"
        if op == Op.CONTAINS:
            return f"&:(member$ {_clips_text(value)} {var})"
        if op in (Op.EQ, Op.IN) and not numeric:
            return "&" + "|".join(_clips_literal(v) for v in (value if op == Op.IN else (value,)))
        if op == Op.NE and kind == "boolean":
            return "&" + _clips_literal(not value)
        if op in (Op.NE, Op.NOT_IN) and kind == "text":
            values = " ".join(_clips_text(v) for v in (value if op == Op.NOT_IN else (value,)))
            return f"&:(and (stringp {var}) (neq {var} {values}))"
        if numeric:
            if op == Op.IN:
                return f"&:(and {present} (or {' '.join(f'(= {var} {v!r})' for v in value)}))"
            if op == Op.NOT_IN:
                return f"&:(and {present} (<> {var} {' '.join(repr(v) for v in value)}))"
            compare = {Op.EQ: "=", Op.NE: "<>", Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}[op]
            return f"&:(and {present} ({compare} {var} {value!r}))"
        raise NotImplementedError(f"CLIPS translation of `{op.value}` on a {kind} field")

    def facts_text(self, facts: Iterable[Fact]) -> str:
        parts = []
        for position, fact in enumerate(facts):
            text = f"({fact.type} (key {position})"
            values = fact.fields
            for field, opening, default, write in self.writers[fact.type]:
                value = values.get(field, default)
                if value is not None:
                    text += opening + write(value) + ")"
            parts.append(text + ")")
        return "\n".join(parts)

    def firings(self, case: CaseData) -> Firings:
        return self.facts_and_firings(case)[1]

    def facts_and_firings(self, case: CaseData) -> tuple[list[Fact], Firings]:
        facts = _facts(self.ruleset, case)
        self.env.load_facts(self.facts_text(facts))
        self.env.run()
        fired = self.fired.value
        self.env.reset()
        distinct = set()
        for record in fired.split(";")[:-1]:
            index, w, *positions = map(int, record.split())
            keys = [facts[p].key for p in positions]
            distinct.add((index, tuple(sorted(zip(self.aliases[index][w], keys, strict=True)))))
        return facts, sorted((self.ruleset.rules[index].id, identity) for index, identity in distinct)


# -- full evaluations: the same outcome assembly after each engine -------------------------------------

def outcome_of(ruleset: Ruleset, schema: FactSchema, case: CaseData, facts: list[Fact], fired: Firings) -> RuleOutcome:
    """The RuleOutcome from an engine's firings, assembled exactly as the adapter assembles its own."""
    by_key = {fact.key: fact for fact in facts}
    per_rule: dict[str, list] = {}
    for rule_id, identity in fired:
        per_rule.setdefault(rule_id, []).append(identity)
    builder = OutcomeBuilder(schema, ruleset.version)
    for rule in ruleset.rules:
        matches = [Match(rule, {alias: by_key[key] for alias, key in identity}, identity)
                   for identity in sorted(per_rule.get(rule.id, ()))]
        builder.fire_rule(matches, _NO_UNTIL)
    return builder.outcome(ruleset.name, case.case_id, AS_OF)


class _NoUntil(dict):
    """The workload's checkpoints have no `until`: no instance is ever satisfied."""

    def __missing__(self, key: str) -> Callable[[Match], bool]:
        return lambda match: False


_NO_UNTIL = _NoUntil()


# -- measurement -------------------------------------------------------------------------------------

def measure(runners: dict[str, Callable[[CaseData], Any]], cases: Sequence[CaseData], warmup: int,
            clock: Callable[[], float]) -> tuple[dict[str, list[float]], dict[str, list[Any]]]:
    """Seconds per case and firings per case of each runner, after `warmup` untimed cases. The runners
    take turns on each case, in rotating order, so drift in machine load affects them alike."""
    names = list(runners)
    for case in cases[:warmup]:
        for run in runners.values():
            run(case)
    gc.collect()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    results: dict[str, list[Any]] = {name: [] for name in names}
    for n, case in enumerate(cases):
        for k in range(len(names)):
            name = names[(n + k) % len(names)]
            start = clock()
            fired = runners[name](case)
            seconds[name].append(clock() - start)
            results[name].append(fired)
    return seconds, results


def compare(cases: Sequence[CaseData], results: dict[str, list[Firings]]) -> int:
    """The total number of firings checked; exits with the first difference."""
    reference_name, reference = next(iter(results.items()))
    for name, other in results.items():
        for case, expected, got in zip(cases, reference, other, strict=True):
            if isinstance(expected, RuleOutcome):
                if expected != got:
                    raise SystemExit(f"MISMATCH on case {case.case_id}: {name}'s outcome differs from "
                                     f"{reference_name}'s")
                continue
            if expected != got:
                missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
                raise SystemExit(f"MISMATCH on case {case.case_id}: {name} vs {reference_name}\n"
                                 f"  only in {reference_name} ({len(missing)}): {missing[:5]}\n"
                                 f"  only in {name} ({len(extra)}): {extra[:5]}\n"
                                 + ("  (duplicate firings)\n" if not missing and not extra else ""))
    return sum(len(f.trace) if isinstance(f, RuleOutcome) else len(f) for f in reference)


def profile(evaluator: Evaluator, cases: Sequence[CaseData], top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for case in cases:
        evaluator.evaluate(case, as_of=AS_OF)
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rules_engine", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=100, help="untimed cases before measuring (default 100)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: perf_counter; cpu: this thread's CPU time (steadier on a busy machine)")
    parser.add_argument("--profile", action="store_true", help="profile the adapter even when it beats CLIPS")
    parser.add_argument("--dump-ruleset", action="store_true", help="print the generated ruleset YAML and exit")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    text = ruleset_yaml(args.rules, rng)
    if args.dump_ruleset:
        print(text)
        return
    ruleset = load_ruleset(text, source="<generated>")
    cases = make_cases(args.cases, args.events, rng)
    plan = compile_ruleset(ruleset)
    evaluator, raw, engine = Evaluator(plan), RawDurable(plan), ClipsEngine(ruleset)
    gc.collect()
    gc.freeze()  # the generated cases live throughout; keep them out of the collections timed below

    schema = evaluator.schema

    def via(engine: RawDurable | ClipsEngine) -> Callable[[CaseData], RuleOutcome]:
        return lambda case: outcome_of(ruleset, schema, case, *engine.facts_and_firings(case))

    rounds = {
        "evaluation (case to RuleOutcome)": {"adapter": lambda case: evaluator.evaluate(case, as_of=AS_OF),
                                             "raw durable": via(raw), "CLIPS": via(engine)},
        "matching only (case to firings)": {"adapter": lambda case: adapter_firings(evaluator, case),
                                            "raw durable": raw.firings, "CLIPS": engine.firings},
    }
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    print(f"rules={args.rules} events={args.events} cases={args.cases} seed={args.seed} clock={args.clock} "
          f"(engine chunks: {len(plan.chunks)}, queries: {len(plan.queries)}; clipspy {version('clipspy')}, "
          f"durable-rules {version('durable-rules')})")
    verdict = {}
    for title, runners in rounds.items():
        timings, results = measure(runners, cases, args.warmup, clock)
        checked = compare(cases, results)
        print(f"\n{title}: identical results from all three ({checked / len(cases):.1f} firings per case)")
        medians = {}
        for name, seconds in timings.items():
            medians[name] = statistics.median(seconds) * 1e3
            mean = statistics.fmean(seconds) * 1e3
            print(f"  {name:<12}{medians[name]:7.3f} ms/case (median) {mean:7.3f} ms/case (mean) "
                  f"{1e3 / mean:6.0f} cases/s")
        verdict[title] = medians["adapter"] / medians["CLIPS"]
        print(f"  adapter / CLIPS = {verdict[title]:.2f}   "
              f"adapter / raw = {medians['adapter'] / medians['raw durable']:.2f}   (medians)")
    runs = 2 * (args.warmup + len(cases))
    print(f"\nengine answers per case: {raw.bindings[0] / runs:.1f} main-query + {raw.bindings[1] / runs:.1f} "
          "`no`-query rows")
    sample = cases[:300]
    breakdown = adapter_breakdown(evaluator, sample, clock)
    print(f"adapter breakdown, mean ms/case over {len(sample)} cases (total {sum(breakdown.values()):.3f}): "
          + ", ".join(f"{stage} {ms:.3f}" for stage, ms in breakdown.items()))
    slower = verdict["evaluation (case to RuleOutcome)"] > 1
    if slower:
        print("the adapter is SLOWER than CLIPS on this workload; its profile follows")
    if slower or args.profile:
        profile(evaluator, sample, top=25)


if __name__ == "__main__":
    main()
