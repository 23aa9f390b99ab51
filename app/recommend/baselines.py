"""Baselines a ranker must beat, as scikit-learn classifiers over the feature frame of app/recommend/features.py.

`MostFrequentNextAction` always ranks actions by how often they came next in training. `NGramBackoff` is the lookup
table of the literature (the most frequent next activity after the last 3, 2, 1, 0 activities) with a full,
smoothed distribution, so it doubles as the product's fallback ranker while no model is trained.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from app.recommend.features import PAD


class FrameClassifier(ClassifierMixin, BaseEstimator):
    """Shared plumbing of the classifiers over the feature frame (baselines and the ranker): string classes in sorted
    order; predictions are the most probable class, ties to the first; frames with strings and NaN accepted."""

    def _fit_classes(self, y: Sequence) -> np.ndarray:
        y = np.asarray(y, dtype=object)
        if len(y) == 0:
            raise ValueError("cannot fit on no examples")
        self.classes_, encoded = np.unique(y.astype(str), return_inverse=True)
        return encoded

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The most probable class per row (ties go to the class first in `classes_`)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


class MostFrequentNextAction(FrameClassifier):
    """Every row gets the training frequencies of the next actions."""

    def fit(self, X: pd.DataFrame, y: Sequence) -> "MostFrequentNextAction":
        """Count the next actions; returns self."""
        encoded = self._fit_classes(y)
        counts = np.bincount(encoded, minlength=len(self.classes_)).astype(float)
        self.class_prior_ = counts / counts.sum()
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The training frequencies, one identical row per input row."""
        check_is_fitted(self)
        return np.tile(self.class_prior_, (len(X), 1))


class NGramBackoff(FrameClassifier):
    """The next action after the last `order`, ..., 1, 0 activities (columns `last_1`, `last_2`, ...).

    The distribution after a context is its counts smoothed towards the distribution of the context one shorter:
    p_n(c) = (count_n(c) + smoothing * p_{n-1}(c)) / (count_n + smoothing), down to the overall frequencies, which
    are smoothed towards uniform. A context never seen (or, unless `anchor_start`, reaching past the start of the
    case) is skipped. With `smoothing` below 1 the most probable action is exactly the lookup table's answer (the
    most frequent after the longest known context); ties go to the shorter context's favourite, then to the name.
    """

    def __init__(self, order: int = 3, smoothing: float = 0.5, anchor_start: bool = False) -> None:
        self.order = order
        self.smoothing = smoothing
        self.anchor_start = anchor_start

    def fit(self, X: pd.DataFrame, y: Sequence) -> "NGramBackoff":
        """Count next actions per context of each length; returns self."""
        if self.order < 0:
            raise ValueError(f"order must be 0 or more, got {self.order}")
        if self.smoothing <= 0:
            raise ValueError(f"smoothing must be positive, got {self.smoothing}")
        encoded = self._fit_classes(y)
        n_classes = len(self.classes_)
        counts = np.bincount(encoded, minlength=n_classes).astype(float)
        self.unigram_ = (counts + self.smoothing / n_classes) / (counts.sum() + self.smoothing)
        self.contexts_, self.counts_ = [], []
        for n in range(1, self.order + 1):
            keys = self._keys(X, n)
            usable = self._usable(keys)
            frame = keys[usable].assign(_y=encoded[usable])
            table = frame.groupby([*keys.columns, "_y"], sort=True).size().unstack("_y", fill_value=0)
            table = table.reindex(columns=range(n_classes), fill_value=0)
            index = table.index if isinstance(table.index, pd.MultiIndex) else pd.MultiIndex.from_arrays([table.index])
            self.contexts_.append(index)
            self.counts_.append(table.to_numpy(dtype=float))
        self.lookups_ = [{tuple(key): row for row, key in enumerate(index)} for index in self.contexts_]
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """A full distribution over `classes_` per row (every class has some probability)."""
        check_is_fitted(self)
        return self.proba_of([tuple(row) for row in self._keys(X, self.order).to_numpy(dtype=object)])

    def proba_of(self, histories: Sequence[tuple[str, ...]]) -> np.ndarray:
        """`predict_proba` for histories given directly: per row, the `order` last actions (oldest first, PAD
        where the case is shorter). Plain tuples and dicts, because pandas lookups cost milliseconds a row."""
        check_is_fitted(self)
        proba = np.tile(self.unigram_, (len(histories), 1))
        for n in range(1, self.order + 1):
            lookup = self.lookups_[n - 1]
            rows = np.array([-1 if not self.anchor_start and PAD in key else lookup.get(key, -1)
                             for key in (history[self.order - n:] for history in histories)], dtype=np.intp)
            known = rows >= 0
            if known.any():
                counts = self.counts_[n - 1][rows[known]]
                total = counts.sum(axis=1, keepdims=True)
                proba[known] = (counts + self.smoothing * proba[known]) / (total + self.smoothing)
        return proba

    def _keys(self, X: pd.DataFrame, n: int) -> pd.DataFrame:
        """The columns of the `n` last actions, oldest first."""
        columns = [f"last_{j}" for j in range(n, 0, -1)]
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise ValueError(f"NGramBackoff(order={self.order}) needs columns {missing}")
        return X[columns].astype(str).reset_index(drop=True)

    def _usable(self, keys: pd.DataFrame) -> np.ndarray:
        if self.anchor_start:
            return np.ones(len(keys), dtype=bool)
        return ~(keys == PAD).any(axis=1).to_numpy()
