"""The next-action ranker: gradient-boosted trees on the feature frame, temperature-calibrated, with reasons.

Design, chosen by measurement on the shared logs (training/README.md has the figures):
- HistGradientBoostingClassifier with native categorical splits on the history (last activities, n-grams, actors)
  and the attributes; l2 regularisation and large leaves, because multiclass boosting on rare classes otherwise
  diverges (unregularised, helpdesk log loss went above 13).
- Stacked n-gram probabilities: the backoff lookup table's distribution is a feature, computed out of fold on the
  training rows (so the trees learn how far to trust it) and from the full table when predicting.
- Classes with fewer than `min_class_count` training examples (or absent from a calibration fold) are too rare to
  learn or calibrate: they get the lookup table's context-specific probability, the model shares out the rest.
- Temperature scaling (CalibratedClassifierCV, method="temperature", ensemble=False) over out-of-fold logits: one
  parameter for all classes, so it cannot overfit rare classes the way one-vs-rest sigmoid or isotonic maps do,
  it needs no renormalisation, and it keeps each row's ranking of the model's classes.
- Reasons: a feature's share is the drop in the predicted action's log-probability when the feature is set to its
  training baseline, for all rows and candidate features in one batched prediction (about 1 ms per row).
Folds follow case groups when `groups` is given to `fit`, otherwise contiguous blocks (examples of one case are
contiguous, as FeatureBuilder.examples emits them), so no case sits on both sides of a fold.
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController

from app.recommend.baselines import FrameClassifier, NGramBackoff
from app.recommend.compiled import compile_pipeline
from app.recommend.features import FeatureBuilder
from app.rules.facts import CaseData, EventData
from app.rules.outcome import RuleOutcome

HISTORY_COLUMNS = ("last_1", "last_2", "last_3")
EXPLAIN_SAMPLE = 200  # training rows used to pick the features worth trying in explanations
SERVING_CHECK_ROWS = 200  # training rows on which the compiled serving path must match scikit-learn


@dataclass(frozen=True)
class FeatureReason:
    """One feature's share in a prediction: how much the predicted action's log-probability drops when the feature
    takes its typical training value instead (`baseline`)."""

    feature: str
    value: object
    baseline: object
    contribution: float


@dataclass(frozen=True)
class Explanation:
    action: str
    probability: float
    reasons: list[FeatureReason]


class NGramFeatures(TransformerMixin, BaseEstimator):
    """The backoff lookup table's next-action distribution as features; out of fold on the rows it is fitted on."""

    def __init__(self, order: int = 3, n_splits: int = 5, smoothing: float = 0.5) -> None:
        self.order = order
        self.n_splits = n_splits
        self.smoothing = smoothing

    def fit(self, X: pd.DataFrame, y: Sequence) -> "NGramFeatures":
        """Fit the table on all rows; returns self."""
        self.table_ = NGramBackoff(order=self.order, smoothing=self.smoothing).fit(X, y)
        self.classes_ = self.table_.classes_
        return self

    def fit_transform(self, X: pd.DataFrame, y: Sequence | None = None, **fit_params) -> np.ndarray:
        """Fit, and return each row's distribution from a table that did not see its block of rows."""
        if y is None:
            raise ValueError("NGramFeatures needs the targets to fit")
        y = np.asarray(y, dtype=object)
        self.fit(X, y)
        out = np.zeros((len(X), len(self.classes_)))
        n_splits = min(self.n_splits, len(X))
        if n_splits < 2:
            return self.transform(X)
        position = {c: i for i, c in enumerate(self.classes_)}
        for train, held_out in KFold(n_splits).split(X):
            table = NGramBackoff(order=self.order, smoothing=self.smoothing).fit(X.iloc[train], y[train])
            columns = [position[c] for c in table.classes_]
            out[np.ix_(held_out, columns)] = table.predict_proba(X.iloc[held_out])
        return out

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Each row's distribution from the full table."""
        check_is_fitted(self)
        return self.table_.predict_proba(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self)
        return np.array([f"ngram:{c}" for c in self.classes_], dtype=object)


class NextActionRanker(FrameClassifier):
    """Probability of each next action, calibrated; `explain` gives the features behind the top action.

    `categorical_features=None` takes the object/string/category columns of the frame passed to `fit`.
    `n_threads` caps OpenMP threads while fitting and predicting (None: the library default).
    """

    def __init__(self, *, categorical_features: Sequence[str] | None = None, learning_rate: float = 0.05,
                 max_iter: int = 100, max_leaf_nodes: int = 31, min_samples_leaf: int = 50,
                 l2_regularization: float = 1.0, max_categories: int = 250, ngram_order: int = 3,
                 min_class_count: int = 10, calibration: str | None = "temperature", cv: int = 3,
                 max_explained_features: int = 8, random_state: int = 0, n_threads: int | None = None) -> None:
        self.categorical_features = categorical_features
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_categories = max_categories
        self.ngram_order = ngram_order
        self.min_class_count = min_class_count
        self.calibration = calibration
        self.cv = cv
        self.max_explained_features = max_explained_features
        self.random_state = random_state
        self.n_threads = n_threads

    # -- fitting ------------------------------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: Sequence, groups: Sequence | None = None) -> "NextActionRanker":
        """Fit on the feature frame `X` and next actions `y`; `groups` (case ids) keep cases within one fold."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError("NextActionRanker expects the pandas feature frame of app.recommend.features")
        y = np.asarray(y, dtype=object).astype(str)
        if len(y) != len(X) or len(y) == 0:
            raise ValueError(f"X has {len(X)} rows and y {len(y)}: need the same, and at least one")
        if self.calibration not in ("temperature", None):
            raise ValueError(f"calibration must be 'temperature' or None, got {self.calibration!r}")
        with _threads(self.n_threads):
            return self._fit(X.reset_index(drop=True), y, None if groups is None else np.asarray(groups))

    def _fit(self, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray | None) -> "NextActionRanker":
        self.classes_ = np.unique(y)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.categorical_features_ = self._categoricals(X)
        self.numeric_features_ = [c for c in X.columns if c not in set(self.categorical_features_)]
        # A column with one value in training cannot split a tree; leaving it out saves fit time (rule columns of
        # actions no rule mentions are constant, and there are many).
        self.constant_features_ = [c for c in X.columns if X[c].nunique(dropna=False) <= 1]
        self.ngram_ = NGramBackoff(order=self._order(X)).fit(X, y)
        self.baseline_ = self._baseline(X)

        counts = pd.Series(y).value_counts()
        rare = set(counts[counts < self.min_class_count].index)
        splits = self._splits(X, y, groups, rare)
        self.rare_classes_ = np.array(sorted(rare), dtype=object)
        common = ~np.isin(y, self.rare_classes_)
        self.model_classes_ = np.unique(y[common]) if common.any() else np.array([], dtype=object)
        if len(self.model_classes_) < 2:
            # Nothing to learn beyond the lookup table: it ranks every class.
            self.rare_classes_ = self.classes_.copy()
            self.model_ = None
            self.serving_ = None
            self.calibrated_ = False
            self.explained_features_ = list(self.feature_names_in_)
            return self
        X_common, y_common = X[common].reset_index(drop=True), y[common]
        pipeline = self._pipeline()
        if self.calibration is None or splits is None:
            self.model_ = pipeline.fit(X_common, y_common)
            self.calibrated_ = False
        else:
            self.model_ = CalibratedClassifierCV(pipeline, method="temperature", cv=splits, ensemble=False)
            self.model_.fit(X_common, y_common)
            self.calibrated_ = True
        self.serving_ = compile_pipeline(self.model_, X_common.iloc[_spread(len(X_common), SERVING_CHECK_ROWS)])
        self.explained_features_ = self._explained_features(X)
        return self

    def _order(self, X: pd.DataFrame) -> int:
        return sum(1 for c in HISTORY_COLUMNS[:self.ngram_order] if c in X.columns)

    def _categoricals(self, X: pd.DataFrame) -> list[str]:
        if self.categorical_features is not None:
            missing = [c for c in self.categorical_features if c not in X.columns]
            if missing:
                raise ValueError(f"categorical features not in X: {missing}")
            return list(self.categorical_features)
        return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or X[c].dtype == bool]

    def _baseline(self, X: pd.DataFrame) -> dict[str, object]:
        baseline: dict[str, object] = {}
        for column in X.columns:
            if column in self.categorical_features_:
                mode = X[column].astype(str).mode()
                baseline[column] = mode.iloc[0] if len(mode) else None
            else:
                values = pd.to_numeric(X[column], errors="coerce")
                baseline[column] = float(values.median()) if values.notna().any() else np.nan
        return baseline

    def _splits(self, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray | None,
                rare: set) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Calibration folds over the common rows; classes missing from a fold's training part join `rare`."""
        while True:
            common = np.flatnonzero(~np.isin(y, list(rare)))
            n_splits = self.cv
            if groups is not None:
                n_splits = min(n_splits, len(np.unique(groups[common])))
            if self.calibration is None or n_splits < 2 or len(common) < 2 * n_splits:
                return None
            splitter = GroupKFold(n_splits) if groups is not None else KFold(n_splits)
            folds = list(splitter.split(common, groups=None if groups is None else groups[common]))
            y_common = y[common]
            classes = set(y_common)
            absent = set()
            for train, _ in folds:
                absent |= classes - set(y_common[train])
            if not absent:
                return folds
            rare |= absent

    def _pipeline(self) -> Pipeline:
        order = self.ngram_.order
        history = list(HISTORY_COLUMNS[:order])
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                 encoded_missing_value=np.nan, max_categories=self.max_categories)
        constant = set(self.constant_features_)
        categorical = [c for c in self.categorical_features_ if c not in constant]
        transformers = [("categorical", encoder, categorical)]
        if order:
            transformers.append(("ngram", NGramFeatures(order=order), history))
        transformers.append(("numeric", "passthrough", [c for c in self.numeric_features_ if c not in constant]))
        columns = ColumnTransformer(transformers, verbose_feature_names_out=False)
        classifier = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_iter=self.max_iter, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization, early_stopping=False,
            categorical_features=list(range(len(categorical))), random_state=self.random_state,
        )
        return Pipeline([("features", columns), ("classifier", classifier)])

    # -- predicting ---------------------------------------------------------------------------------------------

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities over `classes_`; each row sums to 1."""
        check_is_fitted(self)
        X = self._frame(X)
        if self.serving_ is not None:
            return self._proba_of_values(X.to_numpy(dtype=object))
        with _threads(self.n_threads):
            table = self.ngram_.predict_proba(X)
            return self._combine(table, self.model_.predict_proba(X) if self.model_ is not None and len(X) else None)

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("NextActionRanker expects the pandas feature frame of app.recommend.features")
        if list(X.columns) == list(self.feature_names_in_) and isinstance(X.index, pd.RangeIndex) \
                and X.index.start == 0 and X.index.step == 1:
            return X  # the builder's own frame: selecting 100+ columns again would cost a millisecond
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the features the ranker was fitted on: {missing[:5]}")
        return X[list(self.feature_names_in_)].reset_index(drop=True)

    def _proba_of_values(self, values: np.ndarray) -> np.ndarray:
        """`predict_proba` for rows of the feature frame given as an object array (columns `feature_names_in_`)."""
        if self.serving_ is None:
            frame = pd.DataFrame(values, columns=list(self.feature_names_in_))
            for column in self.numeric_features_:
                frame[column] = pd.to_numeric(frame[column], errors="coerce")
            return self.predict_proba(frame)
        table = self.ngram_.proba_of(self.serving_.histories(values, self.ngram_.order))
        return self._combine(table, self.serving_.predict_values(values) if len(values) else None)

    def _combine(self, table: np.ndarray, model_proba: np.ndarray | None) -> np.ndarray:
        """The model's distribution over its classes, the lookup table's over the rare ones, as one distribution."""
        proba = np.zeros((len(table), len(self.classes_)))
        position = {c: i for i, c in enumerate(self.classes_)}
        rare = [position[c] for c in self.rare_classes_]
        proba[:, rare] = table[:, rare]
        if self.model_ is not None:
            rare_mass = table[:, rare].sum(axis=1) if rare else np.zeros(len(table))
            columns = [position[c] for c in self.model_.classes_]
            if model_proba is not None:
                proba[:, columns] = (1.0 - rare_mass)[:, None] * model_proba
        return proba / proba.sum(axis=1, keepdims=True) if len(table) else proba

    # -- reasons ------------------------------------------------------------------------------------------------

    def explain(self, X: pd.DataFrame, top: int = 3) -> list[Explanation]:
        """Per row: the most probable action and the `top` features that raise its probability most (see
        `predict_proba_explained`)."""
        return self.predict_proba_explained(X, top)[1]

    def predict_proba_explained(self, X: pd.DataFrame, top: int = 3) -> tuple[np.ndarray, list[Explanation]]:
        """`predict_proba`, and per row the most probable action and the `top` features that raise its probability
        most, measured by setting each feature to its training baseline (median or most frequent value), all rows
        in one batch. Only the `explained_features_` (the ones that move predictions most on training rows) are
        tried."""
        check_is_fitted(self)
        X = self._frame(X)
        proba, best, rows, columns, drops = self._drops(X, self.explained_features_)
        bounds = np.searchsorted(rows, np.arange(len(X) + 1))
        explanations = []
        for row in range(len(X)):
            span = slice(bounds[row], bounds[row + 1])
            order = np.argsort(-drops[span], kind="stable")[:top]
            reasons = []
            for i in order:
                if drops[span][i] <= 0:
                    break
                column = columns[span][i]
                reasons.append(FeatureReason(column, _plain(X.at[row, column]), _plain(self.baseline_[column]),
                                             float(drops[span][i])))
            explanations.append(Explanation(str(self.classes_[best[row]]), float(proba[row, best[row]]), reasons))
        return proba, explanations

    def _drops(self, X: pd.DataFrame, candidates: Sequence[str]) -> tuple[np.ndarray, ...]:
        """Probabilities, the best class per row, and per (row, feature differing from its baseline) the drop in the
        best class's log-probability when that feature is set to its baseline; rows ascending."""
        values = X.to_numpy(dtype=object)
        names = list(X.columns)
        index = [names.index(c) for c in candidates]
        baseline = np.array([self.baseline_[c] for c in candidates], dtype=object)
        differs = np.array([[not _same(v, b) for v, b in zip(row[index], baseline, strict=True)] for row in values],
                           dtype=bool).reshape(len(X), len(index))
        rows, which = np.nonzero(differs)  # row-major: each row's variants are contiguous
        variants = values[rows].copy()
        variants[np.arange(len(rows)), np.asarray(index, dtype=np.int64)[which]] = baseline[which]
        # The rows and their variants in one prediction: one pass through the trees instead of two.
        both = (self._proba_of_values(np.concatenate([values, variants])) if len(X)
                else np.zeros((0, len(self.classes_))))
        proba, changed = both[:len(X)], both[len(X):]
        best = np.argmax(proba, axis=1)
        kept = changed[np.arange(len(rows)), best[rows]]
        drops = np.log(proba[rows, best[rows]]) - np.log(np.maximum(kept, 1e-12))
        return proba, best, rows, np.asarray(candidates, dtype=object)[which], drops

    def _explained_features(self, X: pd.DataFrame) -> list[str]:
        """The features whose baseline swap moves the predicted class most, on average over a sample of rows."""
        columns = list(self.feature_names_in_)
        if self.model_ is None or len(columns) <= self.max_explained_features:
            return columns
        sample = X.iloc[_spread(len(X), EXPLAIN_SAMPLE)].reset_index(drop=True)
        _, _, _, which, drops = self._drops(sample, columns)
        effect = pd.Series(np.abs(drops), index=which).groupby(level=0).sum().reindex(columns, fill_value=0.0)
        ranked = effect.sort_values(ascending=False, kind="stable")
        return [c for c in columns if c in set(ranked.index[:self.max_explained_features])]


@cache
def _controller() -> ThreadpoolController:
    # Finding the thread pools reads /proc/self/maps: 3 ms, too slow to repeat for every prediction.
    return ThreadpoolController()


def _threads(limit: int | None) -> AbstractContextManager:
    """Cap the OpenMP/BLAS threads while fitting or predicting; no cap when `limit` is None."""
    return nullcontext() if limit is None else _controller().limit(limits=limit)


def _spread(n: int, count: int) -> np.ndarray:
    """At most `count` row positions spread evenly over `n` rows."""
    return np.linspace(0, n - 1, min(n, count)).astype(int)


def _same(value: object, baseline: object) -> bool:
    if isinstance(value, float) and isinstance(baseline, float):
        return (np.isnan(value) and np.isnan(baseline)) or value == baseline
    return value == baseline


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return value



@dataclass(frozen=True)
class TrainedRanker:
    """What serving needs: the fitted feature builder and a fitted ranker (or baseline), used together."""

    builder: FeatureBuilder
    estimator: NextActionRanker  # or a baseline of app/recommend/baselines.py, which has no `explain`

    def score(self, case: CaseData, events: Sequence[EventData] | None = None, *, as_of: datetime | None = None,
              outcome: RuleOutcome | None = None, top: int = 3) -> tuple[dict[str, float], Explanation | None]:
        """Every known action's probability of coming next, and the features behind the most probable one."""
        row = self.builder.row(case, events, as_of=as_of, outcome=outcome)
        if top and hasattr(self.estimator, "predict_proba_explained"):
            proba, explanations = self.estimator.predict_proba_explained(row, top=top)
            explanation = explanations[0]
        else:
            proba, explanation = self.estimator.predict_proba(row), None
        return {str(action): float(p) for action, p in zip(self.estimator.classes_, proba[0], strict=True)}, explanation

    def rank(self, case: CaseData, events: Sequence[EventData] | None = None, *, as_of: datetime | None = None,
             outcome: RuleOutcome | None = None) -> list[tuple[str, float]]:
        """Every known action with its probability for the case after `events`, most probable first."""
        scores, _ = self.score(case, events, as_of=as_of, outcome=outcome, top=0)
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
