"""From a validated Ruleset to an evaluation plan: positive queries in durable-rules JSON, in chunks.

The engine is asked only conjunctive, positive queries; negation, alternatives and checkpoints are
composed from query results by app/rules/evaluation.py. This keeps clear of the engine's measured
faults: `$or` fires twice when two branches match, and a `no` pattern is order dependent in a batch
(a match queued before the excluding fact arrives still fires). See docs/engine.md.

Each query is placed at a level (0 when it reads only case, event and history facts; one above the
producers of every derived fact it reads) and, within a level, in a chunk: a separate engine ruleset
small enough that no fact can overflow the engine's alpha-network stack (64 entries), bucket
(512 children) or beta lists (256), whatever the facts.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.rules.facts import Fact
from app.rules.model import Alternative, Op, Pattern, Ref, Rule, Ruleset, Test

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

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(p.alias for p in self.patterns)

    @property
    def fact_types(self) -> frozenset[str]:
        return frozenset(p.fact for p in self.patterns)


@dataclass(frozen=True)
class Conjunction:
    """Positive patterns minus what any negated pattern excludes: `main` answers, `blockers` exclude."""

    main: Query
    blockers: tuple[Query, ...]


@dataclass(frozen=True)
class RulePlan:
    rule: Rule
    level: int
    when: tuple[Conjunction, ...]
    # per checkpoint id: per `when` alternative, the conjunctions that satisfy it
    until: Mapping[str, tuple[tuple[Conjunction, ...], ...]]


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
    """How a fact of one type becomes engine JSON: engine property -> value computed from the fact."""

    getters: tuple[tuple[str, Callable[[Fact], Any]], ...]

    def engine_fields(self, fact: Fact) -> dict[str, Any]:
        fields = {}
        for prop, getter in self.getters:
            value = getter(fact)
            if value is not None:
                fields[prop] = value
        return fields


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
        facts = {p.fact for alternative in rule.when for p in alternative}
        return max((fact_level(fact) for fact in facts), default=0)

    def level_of(self, patterns: tuple[Pattern, ...]) -> int:
        return max((self.levels.get(p.fact, 0) for p in patterns), default=0)

    def level_count(self) -> int:
        return 1 + max((q.level for q in self.queries.values()), default=0)

    # -- queries -------------------------------------------------------------------------------------

    def rule_plan(self, rule: Rule) -> RulePlan:
        # All of a rule's queries sit at the rule's own level (the highest of any pattern it uses), so
        # every alternative, `until` and `no` over a derived fact sees every fact of that type.
        untils = [alternative for checkpoint in rule.checkpoints() for alternative in checkpoint.until]
        level = self.level_of(tuple(p for alternative in (*rule.when, *untils) for p in alternative))
        when = tuple(self.conjunction(rule, alternative, (), f"w{i}", level) for i, alternative in enumerate(rule.when))
        until = {
            checkpoint.id: tuple(
                tuple(self.conjunction(rule, w_alt, u_alt, f"c{checkpoint.id}.w{i}.u{j}", level)
                      for j, u_alt in enumerate(checkpoint.until))
                for i, w_alt in enumerate(rule.when))
            for checkpoint in rule.checkpoints()
        }
        return RulePlan(rule=rule, level=level, when=when, until=until)

    def conjunction(self, rule: Rule, when: Alternative, until: Alternative, tag: str, level: int) -> Conjunction:
        """`when`'s positive patterns and `until`'s; the `no` patterns of `until` if given, else of `when`
        (a checkpoint extends matches that already passed `when`'s exclusions)."""
        positives = tuple(p for p in (*when, *until) if not p.negated)
        negatives = tuple(p for p in (until or when) if p.negated)
        main = self.query(f"{rule.id}:{tag}", positives, level)
        blockers = tuple(self.query(f"{rule.id}:{tag}.n{k}", (*positives, n), level) for k, n in enumerate(negatives))
        return Conjunction(main, blockers)

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
        return {"all": [{aliases[p.alias]: self.pattern_json(p, aliases, facts)} for p in query.patterns]}

    def pattern_json(self, pattern: Pattern, aliases: Mapping[str, str], facts: Mapping[str, str]) -> dict[str, Any]:
        tests = [self.test_json(pattern.fact, test, aliases, facts) for test in _ordered(pattern.tests)]
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
        getters: dict[str, list[tuple[str, Callable[[Fact], Any]]]] = {}
        for (fact, name), prop in self.props.items():
            getters.setdefault(fact, []).append((prop, _field_getter(name)))
        for (fact, test), prop in self.projected.items():
            getters.setdefault(fact, []).append((prop, _projected_getter(test)))
        return {fact: Projection(tuple(items)) for fact, items in getters.items()}


def _ordered(tests: tuple[Test, ...]) -> list[Test]:
    # Equalities first: they are the most selective and let patterns share alpha nodes; joins last,
    # so the closing tautology ends the join sequence.
    return sorted(tests, key=lambda t: (isinstance(t.value, Ref), t.op != Op.EQ))


def _field_getter(name: str) -> Callable[[Fact], Any]:
    def get(fact: Fact) -> Any:
        value = fact.get(name)
        return list(value) if isinstance(value, tuple) else value

    return get


def _projected_getter(test: Test) -> Callable[[Fact], Any]:
    """The boolean the engine tests for a projected operator; None (omitted) when the field is missing."""
    name, op, operand = test.field, test.op, test.value
    if op == Op.MATCHES:
        pattern = re.compile(operand)

        def matches(fact: Fact) -> bool | None:
            value = fact.get(name)
            return None if value is None else pattern.search(value) is not None

        return matches
    members = frozenset(operand) if op in (Op.IN, Op.NOT_IN) else None

    def member(fact: Fact) -> bool | None:
        value = fact.get(name)
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


def fact_type_code(fact: str) -> str:
    return fact


def engine_property(index: int) -> str:
    """The engine property name for the index-th field a plan uses (short, collision-checked)."""
    return _collision_free("p", index)


def fact_id(index: int) -> str:
    """The engine id of the index-th fact of an evaluation (collision-checked)."""
    return _collision_free("f", index)


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
    names, hashes, counter = _TABLES.setdefault(prefix, ([], {fnv1a_32(r) for r in _RESERVED}, [0]))
    while len(names) <= index:
        name = f"{prefix}{counter[0]}"
        counter[0] += 1
        if fnv1a_32(name) not in hashes:
            hashes.add(fnv1a_32(name))
            names.append(name)
    return names[index]
