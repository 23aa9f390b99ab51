"""From a validated Ruleset to an evaluation plan: positive queries in durable-rules JSON, in chunks.

The engine is asked only conjunctive, positive queries; negation, alternatives and checkpoints are
composed from query results by app/rules/evaluation.py. This keeps clear of the engine's measured
faults: `$or` fires twice when two branches match, and a `no` pattern is order dependent in a batch
(a match queued before the excluding fact arrives still fires). See docs/engine.md.

A `no` pattern, and an `until` alternative, is an Extension: a small query over just the facts it
compares with (its anchors, stripped of their own joins) plus its own patterns. A binding is
excluded (or a checkpoint satisfied) when some answer agrees with it on the anchors and adds facts it
does not already hold; the rule's other patterns are never joined again.

Each query is placed at a level (0 when it reads only case, event and history facts; one above the
producers of every derived fact it reads) and, within a level, in a chunk: a separate engine ruleset
small enough that no fact can overflow the engine's alpha-network stack (64 entries), bucket
(512 children) or beta lists (256), whatever the facts.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from json.encoder import encode_basestring_ascii
from typing import Any

from app.rules.facts import COUNTS_PREFIX, Fact, fact_schema
from app.rules.model import Alternative, Op, Pattern, Ref, Rule, Ruleset, Test
from app.rules.validator import derivation_inputs

SID = "casewise"  # the one engine session; deleted after every evaluation
ONE = "one"  # a constant property on every fact, for the tautology that closes a join sequence
TYPE = "t"
SENTINEL_TYPE = "$sentinel"
SENTINEL_QUERY = "sentinel"
# Engine bounds, kept with margin (durable-rules 2.0.28: MAX_STACK_SIZE 64, NEXT_BUCKET_LENGTH 512,
# BETA_LIST_LENGTH 256, MAX_ACTIONS 4096).
STACK_BUDGET = 56
CHILDREN_BUDGET = 120  # also under NEXT_LIST_LENGTH (128), the bound on `exists: false` children
BETA_LIST_BUDGET = 200
QUERIES_PER_CHUNK = 2_000
ANSWERS_PER_ACTION = 100_000

_SENTINEL_DEFINITION = {"all": [{"a0": {TYPE: SENTINEL_TYPE}}]}
_ENGINE_OPS = {Op.EQ: "$eq", Op.NE: "$neq", Op.GT: "$gt", Op.GTE: "$gte", Op.LT: "$lt", Op.LTE: "$lte"}
# Tests the engine cannot do exactly (its regex dialect differs from Python's; `in` would need `$or`)
# are computed while projecting the fact, and the engine tests the resulting boolean.
_PROJECTED_OPS = frozenset({Op.IN, Op.NOT_IN, Op.MATCHES, Op.CONTAINS, Op.NOT_CONTAINS})


@dataclass(frozen=True)
class Query:
    """A positive conjunction of patterns; its answer is every binding of `aliases` to distinct facts."""

    name: str
    patterns: tuple[Pattern, ...]
    level: int
    aliases: tuple[str, ...] = field(init=False)
    by_name: tuple[int, ...] = field(init=False)  # pattern positions in alias order, for match identities

    def __post_init__(self) -> None:
        aliases = tuple(p.alias for p in self.patterns)
        object.__setattr__(self, "aliases", aliases)
        object.__setattr__(self, "by_name", tuple(sorted(range(len(aliases)), key=aliases.__getitem__)))

    @property
    def fact_types(self) -> frozenset[str]:
        return frozenset(p.fact for p in self.patterns)


@dataclass(frozen=True)
class Extension:
    """Facts that extend a binding: `query` answers rows whose first `len(anchors)` facts must be the
    binding's own for those names, the rest (`added`) facts the binding does not hold; a row counts
    only if none of `excluders` extends the binding with it."""

    query: Query
    anchors: tuple[str, ...]
    added: tuple[str, ...]
    excluders: tuple["Extension", ...]


@dataclass(frozen=True)
class Conjunction:
    """The bindings of `main` that none of `excluders` (one per `no` pattern) extends."""

    main: Query
    excluders: tuple[Extension, ...]


@dataclass(frozen=True)
class RulePlan:
    rule: Rule
    level: int
    when: tuple[Conjunction, ...]
    # per checkpoint id: its `until` alternatives, each extending a match of `when`
    until: Mapping[str, tuple[Extension, ...]]


@dataclass(frozen=True)
class Chunk:
    """One engine ruleset: its durable-rules definition and the fact types its queries read."""

    name: str
    level: int
    definition: dict[str, Any]
    fact_types: frozenset[str]
    queries: tuple[str, ...]


@dataclass(frozen=True)
class Projection:
    """How a fact of one type becomes engine JSON text: `,"prop":` + the field written by its type's writer,
    and `,"prop":` + true/false for each test computed here rather than in the engine."""

    fields: tuple[tuple[str, str, Callable[[Any], str], Any], ...]  # (opening, field, writer, default)
    computed: tuple[tuple[str, Callable[[Fact], bool | None]], ...]

    def json(self, fact: Fact, fact_id: str) -> str:
        """The fact as the engine's JSON object; `id` comes first, so answers can be read without parsing."""
        values = fact.fields
        parts = [f'{{"id":"{fact_id}","sid":"{SID}","{TYPE}":{_text(fact.type)},"{ONE}":1']
        for opening, name, write, default in self.fields:
            value = values.get(name, default)
            if value is not None:
                parts.append(opening + write(value))
        for opening, compute in self.computed:
            value = compute(fact)
            if value is not None:
                parts.append(opening + ("true" if value else "false"))
        parts.append("}")
        return "".join(parts)


@dataclass(frozen=True)
class Plan:
    ruleset: Ruleset
    rules: tuple[RulePlan, ...]
    queries: Mapping[str, Query]
    chunks: tuple[Chunk, ...]
    projections: Mapping[str, Projection]
    levels: int
    # engine property name of each (fact type, field) and of each projected test
    properties: Mapping[tuple[str, str], str] = field(repr=False)


def compile_ruleset(ruleset: Ruleset) -> Plan:
    """The evaluation plan of `ruleset`. Deterministic: the same ruleset gives the same plan."""
    builder = _Builder(ruleset)
    rule_plans = tuple(builder.rule_plan(rule) for rule in ruleset.rules)
    chunks = tuple(builder.chunks())
    return Plan(ruleset=ruleset, rules=rule_plans, queries=builder.queries, chunks=chunks,
                projections=builder.projections(), levels=builder.level_count(), properties=builder.props)


class _Builder:
    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.queries: dict[str, Query] = {}
        self.props: dict[tuple[str, str], str] = {}
        self.projected: dict[tuple[str, Test], str] = {}
        self.levels = self._levels()
        self.chunk_count = 0
        self.schema = fact_schema(ruleset.case_attributes, ruleset.event_attributes, ruleset.derived)

    # -- levels: a derived fact type sits one above the highest level its producers read -------------

    def _levels(self) -> dict[str, int]:
        producers: dict[str, list[Rule]] = {}
        for rule in self.ruleset.rules:
            for assertion in rule.asserts():
                producers.setdefault(assertion.fact, []).append(rule)
        levels: dict[str, int] = {}

        def fact_level(fact: str) -> int:
            if fact not in producers:
                return 0
            if fact not in levels:  # the validator refused cycles, so this terminates
                levels[fact] = 1 + max(self.rule_level(rule, fact_level) for rule in producers[fact])
            return levels[fact]

        for fact in producers:
            fact_level(fact)
        return levels

    @staticmethod
    def rule_level(rule: Rule, fact_level: Callable[[str], int]) -> int:
        return max((fact_level(fact) for fact in derivation_inputs(rule)), default=0)

    def level_count(self) -> int:
        return 1 + max((q.level for q in self.queries.values()), default=0)

    # -- queries -------------------------------------------------------------------------------------

    def rule_plan(self, rule: Rule) -> RulePlan:
        # All of a rule's queries sit at the rule's own level (the highest of any pattern it uses), so
        # every alternative, `until` and `no` over a derived fact sees every fact of that type.
        level = self.rule_level(rule, lambda fact: self.levels.get(fact, 0))
        when = []
        for i, alternative in enumerate(rule.when):
            positives = tuple(p for p in alternative if not p.negated)
            main = self.query(f"{rule.id}:w{i}", positives, level)
            excluders = tuple(self.extension(f"{rule.id}:w{i}.n{k}", positives, (_affirmed(negated),), level)
                              for k, negated in enumerate(p for p in alternative if p.negated))
            when.append(Conjunction(main, excluders))
        # `until` compares only with names every alternative of `when` binds, to one fact type; an
        # anchor keeps its pattern's tests only where every alternative has the same pattern for it.
        anchors = tuple(p if all(p in alternative for alternative in rule.when) else replace(p, tests=())
                        for p in rule.when[0] if not p.negated)
        until = {checkpoint.id: tuple(self.extension(f"{rule.id}:c{checkpoint.id}.u{j}", anchors, alternative, level)
                                      for j, alternative in enumerate(checkpoint.until))
                 for checkpoint in rule.checkpoints()}
        return RulePlan(rule=rule, level=level, when=tuple(when), until=until)

    def extension(self, name: str, bound: tuple[Pattern, ...], patterns: Alternative, level: int) -> Extension:
        """The query extending bindings of `bound` with `patterns` (their `no`s become nested excluders)."""
        added = tuple(p for p in patterns if not p.negated)
        referenced = {t.value.alias for p in added for t in p.tests if isinstance(t.value, Ref)}
        anchors = tuple(_without_joins(p) for p in bound if p.alias in referenced)
        query = self.query(name, (*anchors, *added), level)
        excluders = tuple(self.extension(f"{name}.n{k}", (*bound, *added), (_affirmed(negated),), level)
                          for k, negated in enumerate(p for p in patterns if p.negated))
        return Extension(query, tuple(p.alias for p in anchors), tuple(p.alias for p in added), excluders)

    def query(self, name: str, patterns: tuple[Pattern, ...], level: int) -> Query:
        query = Query(name, patterns, level)
        self.queries[name] = query
        return query

    # -- engine JSON ---------------------------------------------------------------------------------

    def prop(self, fact: str, name: str) -> str:
        key = (fact, name)
        if key not in self.props:
            self.props[key] = engine_property(len(self.props) + len(self.projected))
        return self.props[key]

    def projected_prop(self, fact: str, test: Test) -> str:
        key = (fact, test)
        if key not in self.projected:
            self.projected[key] = engine_property(len(self.props) + len(self.projected))
        return self.projected[key]

    def definition(self, query: Query) -> dict[str, Any]:
        aliases = {p.alias: f"a{i}" for i, p in enumerate(query.patterns)}
        facts = {p.alias: p.fact for p in query.patterns}
        # A join reading a field the other fact lacks is an engine error (311), not a false comparison;
        # requiring the field on the other fact's own pattern gives the same answers without it.
        referenced: dict[str, set[str]] = {}
        for pattern in query.patterns:
            for test in pattern.tests:
                if isinstance(test.value, Ref):
                    referenced.setdefault(test.value.alias, set()).add(test.value.field)
        return {"all": [{aliases[p.alias]: self.pattern_json(p, aliases, facts, referenced.get(p.alias, set()))}
                        for p in query.patterns],
                # One engine action hands over up to `cap` answers at once: one call per query, not per answer.
                "cap": ANSWERS_PER_ACTION}

    def pattern_json(self, pattern: Pattern, aliases: Mapping[str, str], facts: Mapping[str, str],
                     referenced: set[str]) -> dict[str, Any]:
        tests = [self.test_json(pattern.fact, test, aliases, facts) for test in _ordered(pattern.tests)]
        tests += [{"$ex": {self.prop(pattern.fact, name): 1}} for name in sorted(referenced)]
        if any(isinstance(t.value, Ref) for t in pattern.tests):
            # The engine reads past the end of a join sequence whose last comparison is false
            # (reduceExpressionSequence); a final comparison that always holds keeps it in bounds.
            first = next(iter(aliases.values()))
            tests.append({"$eq": {ONE: {first: ONE}}})
        return {"$and": [{TYPE: fact_type_code(pattern.fact)}, *tests]}

    def test_json(self, fact: str, test: Test, aliases: Mapping[str, str], facts: Mapping[str, str]) -> dict:
        if test.op in _PROJECTED_OPS:
            return {self.projected_prop(fact, test): True}
        prop = self.prop(fact, test.field)
        if test.op == Op.EXISTS:
            return {"$ex": {prop: 1}}
        if test.op == Op.MISSING:
            return {"$nex": {prop: 1}}
        value = test.value
        if isinstance(value, Ref):
            other = {aliases[value.alias]: self.prop(facts[value.alias], value.field)}
            value = other if not value.offset else {"$add": {"$l": other, "$r": value.offset}}
        return {_ENGINE_OPS[test.op]: {prop: value}}

    def chunks(self) -> Iterator[Chunk]:
        by_level: dict[int, list[Query]] = {}
        for query in self.queries.values():
            if query.patterns:  # a query of no patterns has one answer, the empty row: no engine needed
                by_level.setdefault(query.level, []).append(query)
        for level in sorted(by_level):
            packer = _ChunkPacker()
            current: list[tuple[Query, dict]] = []
            for query in by_level[level]:
                definition = self.definition(query)
                if len(current) >= QUERIES_PER_CHUNK or not packer.try_add(definition):
                    yield self.chunk(level, current)
                    packer, current = _ChunkPacker(), []
                    if not packer.try_add(definition):
                        raise ValueError(f"query {query.name} alone exceeds the engine's bounds")
                current.append((query, definition))
            if current:
                yield self.chunk(level, current)

    def chunk(self, level: int, queries: list[tuple[Query, dict]]) -> Chunk:
        definition = {query.name: body for query, body in queries}
        definition[SENTINEL_QUERY] = _SENTINEL_DEFINITION
        types = frozenset(fact for query, _ in queries for fact in query.fact_types)
        self.chunk_count += 1
        return Chunk(name=f"{self.ruleset.name}@{self.ruleset.version[:12]}#{self.chunk_count}", level=level,
                     definition=definition, fact_types=types, queries=tuple(q.name for q, _ in queries))

    def projections(self) -> dict[str, Projection]:
        fields: dict[str, list] = {}
        computed: dict[str, list] = {}
        for (fact, name), prop in self.props.items():
            default = 0 if name.startswith(COUNTS_PREFIX) else None  # absent history counts are 0
            write = _WRITERS[self.schema.field_type(fact, name)]
            fields.setdefault(fact, []).append((f',"{prop}":', name, write, default))
        for (fact, test), prop in self.projected.items():
            computed.setdefault(fact, []).append((f',"{prop}":', _projected_getter(test)))
        return {fact: Projection(tuple(fields.get(fact, ())), tuple(computed.get(fact, ())))
                for fact in self.schema.types}


def _ordered(tests: tuple[Test, ...]) -> list[Test]:
    # Equalities first: they are the most selective and let patterns share alpha nodes; joins last,
    # so the closing tautology ends the join sequence.
    return sorted(tests, key=lambda t: (isinstance(t.value, Ref), t.op != Op.EQ))


def _affirmed(pattern: Pattern) -> Pattern:
    """A `no` pattern as the positive pattern whose matches exclude."""
    return replace(pattern, negated=False)


def _without_joins(pattern: Pattern) -> Pattern:
    return replace(pattern, tests=tuple(t for t in pattern.tests if not isinstance(t.value, Ref)))



def _projected_getter(test: Test) -> Callable[[Fact], Any]:
    """The boolean the engine tests for a projected operator; None (omitted) when the field is missing."""
    name, op, operand = test.field, test.op, test.value
    missing = 0 if name.startswith(COUNTS_PREFIX) else None  # absent history counts are 0
    if op == Op.MATCHES:
        pattern = re.compile(operand)

        def matches(fact: Fact) -> bool | None:
            value = fact.fields.get(name)
            return None if value is None else pattern.search(value) is not None

        return matches
    members = frozenset(operand) if op in (Op.IN, Op.NOT_IN) else None

    def member(fact: Fact) -> bool | None:
        value = fact.fields.get(name, missing)
        if value is None:
            return None
        if op == Op.IN:
            return value in members
        if op == Op.NOT_IN:
            return value not in members
        if op == Op.CONTAINS:
            return operand in value
        return operand not in value

    return member


class _ChunkPacker:
    """The alpha network of a chunk as the engine builds it (a trie of tests, shared where identical),
    tracking what bounds the engine: how deep its traversal stack can get, children per node, and
    patterns ending at one node."""

    def __init__(self) -> None:
        self.children: dict[tuple, set[str]] = {(): set()}
        self.best_child: dict[tuple, int] = {(): 0}  # the largest `sub` among a node's children
        self.beta: dict[tuple, int] = {}
        self.try_add(_SENTINEL_DEFINITION)

    def sub(self, node: tuple) -> int:
        """How far the stack can grow below `node`: its children, plus the worst of theirs."""
        return len(self.children[node]) + self.best_child[node]

    def try_add(self, definition: dict) -> bool:
        """Add the query's patterns if the chunk stays within bounds; otherwise leave it as it was."""
        journal: list[tuple[str, tuple, Any]] = []
        for element in definition["all"]:
            (body,) = element.values()
            path = tuple(_node_key(step) for step in body.get("$and", [body]))
            node: tuple = ()
            for step in path:
                child = (*node, step)
                if step not in self.children[node]:
                    journal.append(("child", node, step))
                    self.children[node].add(step)
                    if child not in self.children:
                        journal.append(("node", child, None))
                        self.children[child], self.best_child[child] = set(), 0
                node = child
            journal.append(("beta", node, self.beta.get(node, 0)))
            self.beta[node] = self.beta.get(node, 0) + 1
            for depth in range(len(path) - 1, -1, -1):  # values only grow, so the path is all that changes
                parent, child = path[:depth], path[:depth + 1]
                if self.sub(child) > self.best_child[parent]:
                    journal.append(("best", parent, self.best_child[parent]))
                    self.best_child[parent] = self.sub(child)
        if (1 + self.sub(()) <= STACK_BUDGET
                and all(len(self.children[node]) <= CHILDREN_BUDGET for kind, node, _ in journal if kind == "child")
                and all(self.beta[node] <= BETA_LIST_BUDGET for kind, node, _ in journal if kind == "beta")):
            return True
        for kind, node, old in reversed(journal):
            if kind == "child":
                self.children[node].discard(old)
            elif kind == "node":
                del self.children[node], self.best_child[node]
            elif kind == "beta":
                self.beta[node] = old
            else:
                self.best_child[node] = old
        return False


def _node_key(step: dict) -> str:
    # Identical tests under the same parent share one alpha node in the engine.
    return repr(sorted(step.items()))


_text = encode_basestring_ascii  # a JSON string literal, quotes included


def _number(value: float) -> str:
    """A number as the engine reads it: a double (it compares an int with an equal double as unequal
    in joins, and -0.0 with 0), and never an exponent without a point (`1e+16` crashes its parser,
    `1.0e+16` does not)."""
    text = repr(float(value) + 0.0)
    mantissa, exponent, power = text.partition("e")
    return f"{mantissa}.0e{power}" if exponent and "." not in mantissa else text


_WRITERS: dict[str, Callable[[Any], str]] = {
    "number": _number, "timestamp": _number, "text": _text, "boolean": lambda v: "true" if v else "false",
    "list": lambda v: "[" + ",".join(map(_text, v)) + "]",
}


def engine_json(value: Any) -> str:
    """JSON text for the engine, numbers written by `_number` (json.dumps would write `1e+16`)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_text(key)}:{engine_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(engine_json(item) for item in value) + "]"
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if value is None:
        return "null"
    raise TypeError(f"no engine JSON for {type(value).__name__}")


def fact_type_code(fact: str) -> str:
    return fact


def engine_property(index: int) -> str:
    """The engine property name for the index-th field a plan uses (short, collision-checked)."""
    return _collision_free("p", index)


def fact_id(index: int) -> str:
    """The engine id of the index-th fact of an evaluation (collision-checked)."""
    return _collision_free("f", index)


def fact_ids(count: int) -> list[str]:
    """The engine ids of the first `count` facts of an evaluation."""
    if count > len(_TABLES.get("f", ((),))[0]):
        fact_id(count - 1)
    return _TABLES["f"][0]


_TABLES: dict[str, tuple[list[str], set[int], list[int]]] = {}
_RESERVED = {"sid", "id", TYPE, ONE, "$s", "$forward", "m"}


def fnv1a_32(text: str) -> int:
    """The engine's 32-bit hash of names and ids (FNV-1a); equal hashes are one name to the engine."""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


def _collision_free(prefix: str, index: int) -> str:
    # The engine keys facts by the 32-bit hash of their id and properties by the hash of their name:
    # two names with one hash would be one fact or one field. Names are handed out so that no two
    # of a kind (nor any reserved name) share a hash.
    if prefix not in _TABLES:
        _TABLES[prefix] = ([], {fnv1a_32(name) for name in _RESERVED}, [0])
    names, hashes, counter = _TABLES[prefix]
    while len(names) <= index:
        name = f"{prefix}{counter[0]}"
        counter[0] += 1
        if fnv1a_32(name) not in hashes:
            hashes.add(fnv1a_32(name))
            names.append(name)
    return names[index]
