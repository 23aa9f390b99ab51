"""Feature rows for next-action ranking: one code path for training examples and for serving.

A row describes a case as of an evaluation time: the history prefix so far (the last k activities, n-grams of
them, activity counts, length, timing), the last actor, the case attributes, the latest value of each event
attribute, and, when a ruleset governs the case, its outcome (flags, open checkpoints, action constraints).
`FeatureBuilder.fit` learns which columns exist from training cases only; values are raw (strings for
categoricals, floats for the rest), so that encoders and their vocabularies belong to the estimator fitted on
training data. `examples` builds every prefix of many cases at once (vectorised per column, not per prefix);
`rows` builds serving rows through the very same function, so training and serving cannot drift apart.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from app.rules.facts import CaseData, EventData
from app.rules.model import Ruleset
from app.rules.outcome import RuleOutcome

Kind = Literal["numeric", "categorical"]

PAD = "<none>"  # no activity that far back: the prefix is shorter than k
MISSING = "<missing>"  # a categorical value the case or prefix does not have
NGRAM_SEPARATOR = " > "
OTHER_ACTIVITY = "<other>"
# Attributes that describe the whole finished trace (log tooling adds them) and would leak the future.
LEAKY_ATTRIBUTES = frozenset({"variant", "variant-index", "variant_index", "concept:name", "creator"})
MAX_CATEGORICAL_SHARE = 0.5  # more distinct values than this share of cases (or events): an identifier, not a category
MIN_ID_LIKE_VALUES = 50

BASE_NUMERIC = ("prefix_length", "elapsed_hours", "since_last_hours", "prev_gap_hours", "hour", "weekday",
                "distinct_actors", "actor_changed")
HISTORY_CATEGORICAL = ("bigram", "trigram", "actor", "prev_actor", "first_actor")

OutcomeFor = Callable[[CaseData, datetime], RuleOutcome]


@dataclass(frozen=True)
class Examples:
    """Training examples: features `X`, the next activity `y`, and `meta` for splitting (same index)."""

    X: pd.DataFrame
    y: pd.Series
    meta: pd.DataFrame

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: np.ndarray | pd.Series) -> "Examples":
        """The examples where `mask` holds."""
        mask = np.asarray(mask, dtype=bool)
        return Examples(self.X[mask], self.y[mask], self.meta[mask])


class FeatureBuilder:
    """Builds feature rows from (case, prefix, evaluation time, rule outcome); fitted on training cases.

    `case_attributes` / `event_attributes`: names to kinds, or None to infer them from the training cases
    (booleans and numbers numeric, numeric strings numeric, other strings categorical; identifiers, constants and
    whole-trace attributes left out). A ruleset's declared case attributes are used when it is given.
    """

    def __init__(self, *, k: int = 3, case_attributes: Mapping[str, Kind] | None = None,
                 event_attributes: Mapping[str, Kind] | bool | None = None, ruleset: Ruleset | None = None,
                 exclude: Iterable[str] = LEAKY_ATTRIBUTES) -> None:
        self.k = k
        self.case_attributes = case_attributes
        self.event_attributes = event_attributes
        self.ruleset = ruleset
        self.exclude = exclude

    # -- fitting ------------------------------------------------------------------------------------------------

    def fit(self, cases: Sequence[CaseData], outcomes: Iterable[RuleOutcome] = ()) -> "FeatureBuilder":
        """Learn the columns from training cases (and, without a ruleset, from the rule outcomes seen)."""
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        excluded = set(self.exclude)
        events = [e for case in cases for e in case.events]
        self.activities_ = sorted({e.type for e in events})
        if self.case_attributes is not None:
            case_kinds = dict(self.case_attributes)
        elif self.ruleset is not None:
            case_kinds = _declared_kinds(self.ruleset.case_attributes)
        else:
            case_kinds = infer_kinds([c.attributes for c in cases], excluded)
        if self.event_attributes is False:
            event_kinds: dict[str, Kind] = {}
        elif isinstance(self.event_attributes, Mapping):
            event_kinds = dict(self.event_attributes)
        elif self.ruleset is not None:
            event_kinds = _declared_kinds(self.ruleset.event_attributes)
        else:
            event_kinds = infer_kinds([e.attributes for e in events], excluded)
            event_kinds = {n: kind for n, kind in event_kinds.items() if not _mirrors_type_or_actor(events, n)}
        self.case_kinds_ = dict(sorted(case_kinds.items()))
        self.event_kinds_ = dict(sorted(event_kinds.items()))
        self.rule_columns_ = _rule_columns(self.ruleset, outcomes)
        self._set_columns()
        return self

    def _set_columns(self) -> None:
        last = [f"last_{j}" for j in range(1, self.k + 1)]
        counts = [f"count:{a}" for a in self.activities_] + [f"count:{OTHER_ACTIVITY}"]
        case_cols = [f"case:{n}" for n in self.case_kinds_]
        event_cols = [f"event:{n}" for n in self.event_kinds_]
        self.feature_names_ = [*BASE_NUMERIC, *last, *HISTORY_CATEGORICAL, *counts, *case_cols, *event_cols,
                               *self.rule_columns_]
        self.categorical_features_ = [
            *last, *HISTORY_CATEGORICAL,
            *(f"case:{n}" for n, kind in self.case_kinds_.items() if kind == "categorical"),
            *(f"event:{n}" for n, kind in self.event_kinds_.items() if kind == "categorical"),
        ]
        categorical = set(self.categorical_features_)
        self.numeric_features_ = [c for c in self.feature_names_ if c not in categorical]

    def _check(self) -> None:
        if not hasattr(self, "feature_names_"):
            raise RuntimeError("FeatureBuilder is not fitted: call fit(cases) first")

    # -- rows ---------------------------------------------------------------------------------------------------

    def examples(self, cases: Sequence[CaseData], *, min_prefix_length: int = 1, outcome_for: OutcomeFor | None = None,
                 progress: bool = False) -> Examples:
        """Every prefix of at least `min_prefix_length` events that has a next event, labelled with that event's
        activity (the end of a case is never a target), with metadata for splitting."""
        self._check()
        batch = _Batch.of(cases, self, progress=progress)
        has_next = np.r_[batch.case_index[1:] == batch.case_index[:-1], False]
        selected = np.flatnonzero(has_next & (batch.position + 1 >= min_prefix_length))
        X = self._frame(batch, selected, as_of=None, outcomes=None)
        if outcome_for is not None and self.rule_columns_:
            X[self.rule_columns_] = self._outcome_matrix(batch, selected, outcome_for, progress)
        index = pd.RangeIndex(len(selected))
        X.index = index
        y = pd.Series(batch.types[selected + 1], index=index, name="next_activity", dtype=object)
        case_of = batch.case_index[selected]
        meta = pd.DataFrame({
            "case_id": batch.case_ids[case_of],
            "prefix_length": batch.position[selected] + 1,
            "prefix_end": _timestamps(batch.at[selected]),
            "case_start": _timestamps(batch.case_start[case_of]),
            "case_end": _timestamps(batch.case_end[case_of]),
        }, index=index)
        return Examples(X, y, meta)

    def row(self, case: CaseData, events: Sequence[EventData] | None = None, *, as_of: datetime | None = None,
            outcome: RuleOutcome | None = None) -> pd.DataFrame:
        """The one-row frame for `case` after `events` (default: its whole history) as of `as_of` (default: the
        last event's time; at serving time, now)."""
        return self.rows([(case, events, as_of, outcome)])

    def rows(self, requests: Sequence[tuple[CaseData, Sequence[EventData] | None, datetime | None,
                                            RuleOutcome | None]]) -> pd.DataFrame:
        """One row per (case, events, as_of, outcome), in order; the same code as `examples`."""
        self._check()
        prefixes = [replace(case, events=tuple(case.events if events is None else events))
                    for case, events, _, _ in requests]
        if any(not p.events for p in prefixes):
            raise ValueError("a feature row needs at least one event in the history")
        batch = _Batch.of(prefixes, self)
        last = np.r_[np.flatnonzero(batch.case_index[1:] != batch.case_index[:-1]), len(batch.case_index) - 1]
        as_of = np.array([batch.at[i] if when is None else _seconds(when)
                          for i, (_, _, when, _) in zip(last, requests, strict=True)])
        return self._frame(batch, last, as_of=as_of, outcomes=[outcome for *_, outcome in requests])

    # -- the one computation --------------------------------------------------------------------------------------

    def _frame(self, batch: "_Batch", selected: np.ndarray, *, as_of: np.ndarray | None,
               outcomes: Sequence[RuleOutcome | None] | None) -> pd.DataFrame:
        """Features of the prefixes ending at the `selected` events; `as_of` defaults to each prefix's last event."""
        case_of = batch.case_index[selected]
        at = batch.at[selected]
        when = at if as_of is None else np.maximum(as_of, at)
        position = batch.position[selected]
        columns: dict[str, Any] = {
            "prefix_length": (position + 1).astype(float),
            "elapsed_hours": (when - batch.case_start[case_of]) / 3600.0,
            "since_last_hours": (when - at) / 3600.0,
            "prev_gap_hours": np.where(position > 0, (at - batch.at[np.maximum(selected - 1, 0)]) / 3600.0, np.nan),
        }
        stamps = pd.DatetimeIndex(_timestamps(at))
        columns["hour"] = (stamps.hour + stamps.minute / 60.0).to_numpy(dtype=float)
        columns["weekday"] = stamps.day_of_week.to_numpy(dtype=float)
        last = []
        for j in range(self.k):
            back = selected - j
            value = np.where(position >= j, batch.types[np.maximum(back, 0)], PAD)
            columns[f"last_{j + 1}"] = value
            last.append(value)
        columns["bigram"] = _join(last[1], last[0]) if self.k >= 2 else last[0]
        columns["trigram"] = _join(last[2], last[1], last[0]) if self.k >= 3 else columns["bigram"]
        columns["actor"] = batch.actors[selected]
        columns["prev_actor"] = np.where(position > 0, batch.actors[np.maximum(selected - 1, 0)], PAD)
        columns["first_actor"] = batch.actors[selected - position]
        columns["distinct_actors"] = batch.distinct_actors[selected].astype(float)
        columns["actor_changed"] = (columns["prev_actor"] != columns["actor"]).astype(float)
        counts = batch.counts[selected] - batch.counts_before[case_of]
        for a, name in enumerate([*self.activities_, OTHER_ACTIVITY]):
            columns[f"count:{name}"] = counts[:, a].astype(float)
        for name, kind in self.case_kinds_.items():
            columns[f"case:{name}"] = _as_kind(batch.case_values[name][case_of], kind)
        for name, kind in self.event_kinds_.items():
            columns[f"event:{name}"] = _as_kind(batch.latest_event_values[name][selected], kind)
        rules = np.zeros((len(selected), len(self.rule_columns_)))
        if outcomes is not None and self.rule_columns_:
            rules = np.vstack([self._outcome_vector(o) for o in outcomes])
        columns.update(zip(self.rule_columns_, rules.T, strict=True))
        return pd.DataFrame({name: columns[name] for name in self.feature_names_}, copy=False)

    def _outcome_vector(self, outcome: RuleOutcome | None) -> np.ndarray:
        vector = np.zeros(len(self.rule_columns_))
        if outcome is None:
            return vector
        index = {name: i for i, name in enumerate(self.rule_columns_)}
        for name, value in outcome_features(outcome).items():
            if name in index:
                vector[index[name]] = value
        return vector

    def _outcome_matrix(self, batch: "_Batch", selected: np.ndarray, outcome_for: OutcomeFor,
                        progress: bool) -> np.ndarray:
        rows = []
        with _progress(progress, "rule outcomes", len(selected)) as advance:
            for i in selected.tolist():
                case = batch.sorted_cases[batch.case_index[i]]
                prefix = replace(case, events=case.events[:batch.position[i] + 1])
                rows.append(self._outcome_vector(outcome_for(prefix, datetime.fromtimestamp(batch.at[i], tz=UTC))))
                advance(1)
        return np.vstack(rows) if rows else np.zeros((0, len(self.rule_columns_)))


def outcome_features(outcome: RuleOutcome) -> dict[str, float]:
    """A rule outcome as named numbers: flags and open checkpoints 1, required / forbidden / blocked actions 1,
    recommended actions their weight."""
    features: dict[str, float] = {f"rule:flag:{f.code}": 1.0 for f in outcome.flags}
    features.update({f"rule:open:{c.id}": 1.0 for c in outcome.checkpoints if c.status == "open"})
    features.update({f"rule:required:{a.action}": 1.0 for a in outcome.required_actions})
    features.update({f"rule:forbidden:{a.action}": 1.0 for a in outcome.forbidden_actions})
    features.update({f"rule:blocked:{action}": 1.0 for action in outcome.blocked_actions})
    features.update({f"rule:recommended:{r.action}": float(r.weight) for r in outcome.recommended_actions})
    return features


def _rule_columns(ruleset: Ruleset | None, outcomes: Iterable[RuleOutcome]) -> list[str]:
    names: set[str] = set()
    if ruleset is not None:
        actions = [a.id for a in ruleset.actions]
        for kind in ("required", "forbidden", "blocked", "recommended"):
            names.update(f"rule:{kind}:{a}" for a in actions)
        for rule in ruleset.rules:
            for consequence in rule.then:
                code = getattr(consequence, "code", None)
                if code is not None:
                    names.add(f"rule:flag:{code}")
            names.update(f"rule:open:{c.id}" for c in rule.checkpoints())
    for outcome in outcomes:
        names.update(outcome_features(outcome))
    return sorted(names)


def _declared_kinds(declared: Mapping[str, str]) -> dict[str, Kind]:
    kinds: dict[str, Kind] = {}
    for name, field_type in declared.items():
        if field_type in ("number", "boolean"):
            kinds[name] = "numeric"
        elif field_type == "text":
            kinds[name] = "categorical"
    return kinds


def infer_kinds(records: Sequence[Mapping[str, Any]], exclude: set[str]) -> dict[str, Kind]:
    """Attribute kinds from example values: numbers and booleans (and numeric strings) numeric, other strings
    categorical; constants, identifiers (distinct on most records) and non-scalar values left out."""
    values: dict[str, list[Any]] = {}
    for record in records:
        for name, value in record.items():
            if name not in exclude and value is not None:
                values.setdefault(name, []).append(value)
    kinds: dict[str, Kind] = {}
    for name, seen in values.items():
        distinct = set(map(repr, seen))
        if len(distinct) < 2:
            continue
        if all(isinstance(v, bool | int | float) for v in seen) or all(_is_number(v) for v in seen):
            kinds[name] = "numeric"
        elif all(isinstance(v, str | bool | int | float) for v in seen):
            id_like = len(distinct) > max(MIN_ID_LIKE_VALUES, MAX_CATEGORICAL_SHARE * len(seen))
            if not id_like:
                kinds[name] = "categorical"
    return kinds


def _mirrors_type_or_actor(events: Sequence[EventData], name: str) -> bool:
    """Whether an event attribute only repeats the event's type or actor (XES logs often carry both)."""
    pairs = [(e.attributes.get(name), e.type, e.actor) for e in events if name in e.attributes]
    return bool(pairs) and (all(v == t for v, t, _ in pairs) or all(v == a for v, _, a in pairs))


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return bool(np.isfinite(value))
    if isinstance(value, str):
        try:
            return bool(np.isfinite(float(value)))
        except ValueError:
            return False
    return False


def _as_kind(values: np.ndarray, kind: Kind) -> np.ndarray:
    """Raw attribute values as a numeric column (NaN missing) or a categorical one (strings, MISSING missing)."""
    if kind == "numeric":
        return np.array([_number(v) for v in values], dtype=float)
    return np.array([MISSING if v is None else str(v) for v in values], dtype=object)


def _number(value: Any) -> float:
    if value is None:
        return np.nan
    if isinstance(value, bool | int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _join(*parts: np.ndarray) -> np.ndarray:
    joined = parts[0].astype(object)
    for part in parts[1:]:
        joined = joined + NGRAM_SEPARATOR + part
    return joined


def _seconds(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("evaluation times must be timezone-aware")
    return moment.timestamp()


def _timestamps(seconds: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.round(np.asarray(seconds) * 1e6).astype("int64"), unit="us", utc=True))


class _progress:
    """A rich progress bar when asked for, a no-op otherwise; yields an `advance(n)` callable."""

    def __init__(self, enabled: bool, description: str, total: int) -> None:
        self.enabled, self.description, self.total = enabled, description, total

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.errors import LiveError
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        try:
            self._bar.start()
        except LiveError:  # another display (a caller's spinner) is live; rich shows one at a time
            self.enabled = False
            return lambda n: None
        task = self._bar.add_task(self.description, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.stop()


@dataclass
class _Batch:
    """The events of many cases as flat arrays, cases contiguous and each in time order (ties by event_id)."""

    sorted_cases: list[CaseData]
    case_ids: np.ndarray
    case_index: np.ndarray
    position: np.ndarray
    types: np.ndarray
    at: np.ndarray
    actors: np.ndarray
    counts: np.ndarray
    counts_before: np.ndarray
    distinct_actors: np.ndarray
    case_start: np.ndarray
    case_end: np.ndarray
    case_values: dict[str, np.ndarray]
    latest_event_values: dict[str, np.ndarray]

    @classmethod
    def of(cls, cases: Sequence[CaseData], builder: FeatureBuilder, progress: bool = False) -> "_Batch":
        sorted_cases = [case if _in_order(case.events) else
                        replace(case, events=tuple(sorted(case.events, key=lambda e: (e.at, e.event_id))))
                        for case in cases]
        lengths = np.array([len(c.events) for c in sorted_cases], dtype=np.int64)
        total = int(lengths.sum())
        case_index = np.repeat(np.arange(len(sorted_cases)), lengths)
        starts = np.r_[0, np.cumsum(lengths)[:-1]] if len(lengths) else np.zeros(0, dtype=np.int64)
        position = np.arange(total) - np.repeat(starts, lengths)
        types = np.empty(total, dtype=object)
        actors = np.empty(total, dtype=object)
        at = np.empty(total, dtype=float)
        event_names = list(builder.event_kinds_)
        latest = {name: np.empty(total, dtype=object) for name in event_names}
        distinct_actors = np.zeros(total, dtype=np.int64)
        row = 0
        with _progress(progress, "prefixes", total) as advance:
            for case in sorted_cases:
                carried = dict.fromkeys(event_names)
                seen_actors: set[str] = set()
                for event in case.events:
                    types[row] = event.type
                    actors[row] = MISSING if event.actor is None else event.actor
                    seen_actors.add(actors[row])
                    distinct_actors[row] = len(seen_actors)
                    at[row] = event.at.timestamp()
                    for name in event_names:
                        value = event.attributes.get(name)
                        if value is not None:
                            carried[name] = value
                        latest[name][row] = carried[name]
                    row += 1
                advance(len(case.events))
        vocabulary = {a: i for i, a in enumerate(builder.activities_)}
        other = len(vocabulary)
        codes = np.fromiter((vocabulary.get(t, other) for t in types), dtype=np.int64, count=total)
        one_hot = np.zeros((total, other + 1), dtype=np.int32)
        one_hot[np.arange(total), codes] = 1
        counts = np.cumsum(one_hot, axis=0)
        counts_before = np.zeros((len(sorted_cases), other + 1), dtype=np.int32)
        nonempty = lengths > 0
        counts_before[nonempty] = np.vstack([np.zeros((1, other + 1), dtype=np.int32), counts])[starts[nonempty]]
        first = np.where(nonempty, starts, 0)
        last = np.where(nonempty, starts + lengths - 1, 0)
        case_values = {name: np.array([c.attributes.get(name) for c in sorted_cases], dtype=object)
                       for name in builder.case_kinds_}
        return cls(
            sorted_cases=sorted_cases, case_ids=np.array([c.case_id for c in sorted_cases], dtype=object),
            case_index=case_index, position=position, types=types, at=at, actors=actors, counts=counts,
            counts_before=counts_before, distinct_actors=distinct_actors,
            case_start=at[first] if total else np.zeros(len(sorted_cases)),
            case_end=at[last] if total else np.zeros(len(sorted_cases)),
            case_values=case_values, latest_event_values=latest,
        )


def _in_order(events: Sequence[EventData]) -> bool:
    return all((a.at, a.event_id) <= (b.at, b.event_id) for a, b in zip(events, events[1:], strict=False))
