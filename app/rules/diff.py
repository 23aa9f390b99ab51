"""What changed between two versions of a ruleset, in the officer's terms: rules added, removed and
changed (conditions and consequences, rendered as in app/rules/describe.py), the action catalog,
the declared attributes and derived facts, and the ruleset's own name, case type and description.

Rules are matched by id. Reordering patterns, tests, alternatives or consequences is no change, nor
is moving a rule to another line; rewording a message or reason is.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.rules.describe import alternative_text, consequence_text, pattern_text
from app.rules.facts import FactSchema, fact_schema
from app.rules.model import Alternative, Consequence, FieldType, Pattern, Rule, Ruleset


@dataclass(frozen=True)
class ValueChange:
    """A changed scalar: of the ruleset (`subject` empty) or of the action `subject`."""

    subject: str
    field: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new} | ({"id": self.subject} if self.subject else {})


@dataclass(frozen=True)
class FieldChange:
    """A declared field added (old None), removed (new None) or retyped; `fact` is case, event or a derived type."""

    fact: str
    field: str
    old: FieldType | None
    new: FieldType | None

    def to_dict(self) -> dict[str, Any]:
        return {"fact": self.fact, "field": self.field, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class ConditionChange:
    """Patterns removed from and added to one alternative; an alternative number is None where it does not exist."""

    old_alternative: int | None
    new_alternative: int | None
    removed: tuple[str, ...]
    added: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"old_alternative": self.old_alternative, "new_alternative": self.new_alternative,
                "removed": list(self.removed), "added": list(self.added)}


@dataclass(frozen=True)
class RuleSummary:
    """A whole rule, as text: for rules added or removed."""

    id: str
    description: str
    priority: int
    when: tuple[str, ...]  # one text per alternative
    then: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "priority": self.priority,
                "when": list(self.when), "then": list(self.then)}


@dataclass(frozen=True)
class RuleChange:
    """What changed in a rule kept under the same id."""

    id: str
    description: tuple[str, str] | None
    priority: tuple[int, int] | None
    conditions: tuple[ConditionChange, ...]
    consequences_removed: tuple[str, ...]
    consequences_added: tuple[str, ...]
    single_alternative: bool  # both versions have one alternative: numbers would only be noise

    def __bool__(self) -> bool:
        return bool(self.description or self.priority or self.conditions or self.consequences_removed
                    or self.consequences_added)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": _pair(self.description),
            "priority": _pair(self.priority),
            "conditions": [change.to_dict() for change in self.conditions],
            "consequences": {"removed": list(self.consequences_removed), "added": list(self.consequences_added)},
        }


@dataclass(frozen=True)
class RulesetDiff:
    """Every difference between two rulesets; false when there is none."""

    ruleset: tuple[ValueChange, ...]
    actions_added: tuple[str, ...]
    actions_removed: tuple[str, ...]
    actions_changed: tuple[ValueChange, ...]
    fields: tuple[FieldChange, ...]
    derived_added: tuple[str, ...]
    derived_removed: tuple[str, ...]
    rules_added: tuple[RuleSummary, ...]
    rules_removed: tuple[RuleSummary, ...]
    rules_changed: tuple[RuleChange, ...]

    def __bool__(self) -> bool:
        return any((self.ruleset, self.actions_added, self.actions_removed, self.actions_changed, self.fields,
                    self.derived_added, self.derived_removed, self.rules_added, self.rules_removed,
                    self.rules_changed))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ruleset": [change.to_dict() for change in self.ruleset],
            "actions": {"added": list(self.actions_added), "removed": list(self.actions_removed),
                        "changed": [change.to_dict() for change in self.actions_changed]},
            "fields": [change.to_dict() for change in self.fields],
            "derived": {"added": list(self.derived_added), "removed": list(self.derived_removed)},
            "rules": {"added": [rule.to_dict() for rule in self.rules_added],
                      "removed": [rule.to_dict() for rule in self.rules_removed],
                      "changed": [rule.to_dict() for rule in self.rules_changed]},
        }

    def lines(self) -> list[str]:
        """The diff as text, one change per line (a rule's details indented under it)."""
        lines = [f"ruleset {c.field}: {_shown(c.old)} -> {_shown(c.new)}" for c in self.ruleset]
        lines += [f"action added: {action}" for action in self.actions_added]
        lines += [f"action removed: {action}" for action in self.actions_removed]
        lines += [f"action {c.subject}: {c.field} {_shown(c.old)} -> {_shown(c.new)}" for c in self.actions_changed]
        lines += [f"derived fact added: {fact}" for fact in self.derived_added]
        lines += [f"derived fact removed: {fact}" for fact in self.derived_removed]
        lines += [_field_line(change) for change in self.fields]
        for verb, summaries in (("added", self.rules_added), ("removed", self.rules_removed)):
            for rule in summaries:
                lines.append(f"rule {verb}: {rule.id} (priority {rule.priority})"
                             + (f": {rule.description}" if rule.description else ""))
                lines += [f"    {'when' if i == 0 else 'or'}: {text}" for i, text in enumerate(rule.when)]
                lines += [f"    then: {text}" for text in rule.then]
        for change in self.rules_changed:
            lines.append(f"rule changed: {change.id}")
            lines += _rule_change_lines(change)
        return lines


def diff_rulesets(old: Ruleset, new: Ruleset) -> RulesetDiff:
    """The differences that turn `old` into `new`."""
    old_schema, new_schema = _schema(old), _schema(new)
    old_actions, new_actions = {a.id: a for a in old.actions}, {a.id: a for a in new.actions}
    old_rules, new_rules = {r.id: r for r in old.rules}, {r.id: r for r in new.rules}
    changed = (_rule_change(old_rules[r.id], r, old_schema, new_schema) for r in new.rules if r.id in old_rules)
    return RulesetDiff(
        ruleset=tuple(ValueChange("", name, getattr(old, name), getattr(new, name))
                      for name in ("name", "case_type", "description") if getattr(old, name) != getattr(new, name)),
        actions_added=tuple(a for a in new_actions if a not in old_actions),
        actions_removed=tuple(a for a in old_actions if a not in new_actions),
        actions_changed=tuple(ValueChange(a, name, getattr(old_actions[a], name), getattr(new_actions[a], name))
                              for a in new_actions if a in old_actions for name in ("label", "description")
                              if getattr(old_actions[a], name) != getattr(new_actions[a], name)),
        fields=(*_field_changes("case", old.case_attributes, new.case_attributes),
                *_field_changes("event", old.event_attributes, new.event_attributes),
                *(change for fact in new.derived if fact in old.derived
                  for change in _field_changes(fact, old.derived[fact], new.derived[fact]))),
        derived_added=tuple(fact for fact in new.derived if fact not in old.derived),
        derived_removed=tuple(fact for fact in old.derived if fact not in new.derived),
        rules_added=tuple(_summary(r, new_schema) for r in new.rules if r.id not in old_rules),
        rules_removed=tuple(_summary(r, old_schema) for r in old.rules if r.id not in new_rules),
        rules_changed=tuple(change for change in changed if change),
    )


def _schema(ruleset: Ruleset) -> FactSchema:
    return fact_schema(ruleset.case_attributes, ruleset.event_attributes, ruleset.derived)


def _field_changes(fact: str, old: Mapping[str, FieldType], new: Mapping[str, FieldType]) -> list[FieldChange]:
    names = [*old, *(name for name in new if name not in old)]
    return [FieldChange(fact, name, old.get(name), new.get(name)) for name in names if old.get(name) != new.get(name)]


def _summary(rule: Rule, schema: FactSchema) -> RuleSummary:
    return RuleSummary(rule.id, rule.description, rule.priority,
                       tuple(alternative_text(alternative, schema) for alternative in rule.when),
                       tuple(consequence_text(c, schema) for c in rule.then))


def _rule_change(old: Rule, new: Rule, old_schema: FactSchema, new_schema: FactSchema) -> RuleChange:
    removed = _missing_from(old.then, new.then)
    added = _missing_from(new.then, old.then)
    # Where only the wording changed, the short form would read the same on both sides.
    reworded = ({consequence_text(c, old_schema) for c in removed}
                & {consequence_text(c, new_schema) for c in added})
    return RuleChange(
        id=new.id,
        description=(old.description, new.description) if old.description != new.description else None,
        priority=(old.priority, new.priority) if old.priority != new.priority else None,
        conditions=_condition_changes(old.when, new.when, old_schema, new_schema),
        consequences_removed=tuple(consequence_text(c, old_schema, with_text=consequence_text(c, old_schema)
                                                    in reworded) for c in removed),
        consequences_added=tuple(consequence_text(c, new_schema, with_text=consequence_text(c, new_schema)
                                                  in reworded) for c in added),
        single_alternative=len(old.when) == len(new.when) == 1,
    )


def _missing_from(items: Sequence[Consequence], others: Sequence[Consequence]) -> list[Consequence]:
    """The items of `items` that `others` lacks, counting repeats."""
    left = list(others)
    missing = []
    for item in items:
        if item in left:
            left.remove(item)
        else:
            missing.append(item)
    return missing


def _condition_changes(old: tuple[Alternative, ...], new: tuple[Alternative, ...], old_schema: FactSchema,
                       new_schema: FactSchema) -> tuple[ConditionChange, ...]:
    """Alternatives found unchanged on both sides are set aside; the rest are paired in order."""
    old_keys, new_keys = [_alternative_key(a) for a in old], [_alternative_key(a) for a in new]
    old_left = list(range(len(old)))
    new_left = []
    for j, key in enumerate(new_keys):
        same = next((i for i in old_left if old_keys[i] == key), None)
        if same is None:
            new_left.append(j)
        else:
            old_left.remove(same)
    changes = []
    for k in range(max(len(old_left), len(new_left))):
        i = old_left[k] if k < len(old_left) else None
        j = new_left[k] if k < len(new_left) else None
        before, after = (old[i] if i is not None else ()), (new[j] if j is not None else ())
        changes.append(ConditionChange(
            None if i is None else i + 1, None if j is None else j + 1,
            tuple(pattern_text(p, old_schema) for p in _patterns_missing_from(before, after)),
            tuple(pattern_text(p, new_schema) for p in _patterns_missing_from(after, before))))
    return tuple(changes)


def _pattern_key(pattern: Pattern) -> tuple:
    # A `no` pattern's alias is its position, not a name the officer chose.
    return (pattern.fact, pattern.negated, "" if pattern.negated else pattern.alias, frozenset(pattern.tests))


def _alternative_key(alternative: Alternative) -> frozenset:
    return frozenset(Counter(_pattern_key(p) for p in alternative).items())


def _patterns_missing_from(patterns: Alternative, others: Alternative) -> list[Pattern]:
    left = [_pattern_key(p) for p in others]
    missing = []
    for pattern in patterns:
        key = _pattern_key(pattern)
        if key in left:
            left.remove(key)
        else:
            missing.append(pattern)
    return missing


def _rule_change_lines(change: RuleChange) -> list[str]:
    lines = []
    if change.description:
        lines.append(f"    description: {_shown(change.description[0])} -> {_shown(change.description[1])}")
    if change.priority:
        lines.append(f"    priority: {change.priority[0]} -> {change.priority[1]}")
    for condition in change.conditions:
        where = "" if change.single_alternative else _alternative_label(condition)
        lines += [f"    condition removed{where}: {text}" for text in condition.removed]
        lines += [f"    condition added{where}: {text}" for text in condition.added]
    lines += [f"    consequence removed: {text}" for text in change.consequences_removed]
    lines += [f"    consequence added: {text}" for text in change.consequences_added]
    return lines


def _alternative_label(change: ConditionChange) -> str:
    if change.new_alternative is None:
        return f" (old alternative {change.old_alternative}, dropped)"
    if change.old_alternative is None:
        return f" (alternative {change.new_alternative}, new)"
    if change.old_alternative == change.new_alternative:
        return f" (alternative {change.new_alternative})"
    return f" (alternative {change.new_alternative}, was {change.old_alternative})"


def _field_line(change: FieldChange) -> str:
    what = f"{change.fact} attribute" if change.fact in ("case", "event") else f"derived fact {change.fact} field"
    if change.old is None:
        return f"{what} added: {change.field} ({change.new})"
    if change.new is None:
        return f"{what} removed: {change.field} ({change.old})"
    return f"{what} retyped: {change.field}: {change.old} -> {change.new}"


def _pair(pair: tuple | None) -> dict[str, Any] | None:
    return None if pair is None else {"old": pair[0], "new": pair[1]}


def _shown(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)
