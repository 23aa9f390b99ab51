"""A fitted ranker pipeline compiled for serving: the same probabilities, a few rows at a time, in about 1 ms.

Why: scikit-learn predicts one row through the ColumnTransformer, two OrdinalEncoders and HistGradientBoosting's
per-tree Python loop (classes x iterations, about 2,000 trees) in 30 to 40 ms, and a suggestion has a 10 ms budget.
Compiled once when the ranker is fitted, the pipeline becomes:
- categorical columns: one dict per column from the raw value to the code the trees see (both encoders composed,
  built by running the fitted encoders themselves on every known category); unknown or missing: NaN;
- the stacked n-gram columns: the fitted lookup table (NGramBackoff, dict lookups);
- numeric columns: passed through;
- the trees: every node of every tree in flat arrays, all trees walked at once, level by level, with the same
  rules as scikit-learn's predictor (NaN and unknown categories follow the missing-values branch);
- the link: the fitted temperature calibrator, or the boosting loss's softmax.
`compile_pipeline` checks the compiled path against scikit-learn on sample rows and returns None on any
difference, so a ranker never serves numbers its pipeline would not give.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

TOLERANCE = 1e-9
LEFT, RIGHT, MISSING = 0, 1, 2


@dataclass(frozen=True)
class _Trees:
    """Every node of every tree; child indices are global; `roots[t]` is tree t's first node."""

    roots: np.ndarray
    tree_classes: np.ndarray  # (trees, classes): 1 where the tree adds to the class
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    categorical_row: np.ndarray  # per node: its row in `category_side`, -1 for numeric splits
    category_side: np.ndarray  # (categorical nodes, 256): LEFT, RIGHT or MISSING for each code
    baseline: np.ndarray

    def raw(self, Z: np.ndarray) -> np.ndarray:
        """The summed leaf values per class (HistGradientBoosting's raw prediction) for the rows of Z."""
        n_rows, n_trees = len(Z), len(self.roots)
        node = np.tile(self.roots, n_rows)  # one walker per (row, tree), row-major
        row = np.repeat(np.arange(n_rows), n_trees)
        walking = np.flatnonzero(~self.is_leaf[node])
        while walking.size:  # one level per pass; walkers drop out at their leaf
            at = node[walking]
            value = Z[row[walking], self.feature[at]]
            go_left = value <= self.threshold[at]  # numeric splits; NaN is settled below
            categorical = np.flatnonzero(self.categorical_row[at] >= 0)
            if categorical.size:
                code = value[categorical]
                outside = np.isnan(code) | (code < 0)
                side = self.category_side[self.categorical_row[at[categorical]],
                                          np.where(outside, 0, np.clip(code, 0, 255)).astype(np.intp)]
                side[outside] = MISSING
                go_left[categorical] = (side == LEFT) | ((side == MISSING) & self.missing_left[at[categorical]])
            missing = np.flatnonzero(np.isnan(value))
            if missing.size:
                go_left[missing] = self.missing_left[at[missing]]
            node[walking] = np.where(go_left, self.left[at], self.right[at])
            walking = walking[~self.is_leaf[node[walking]]]
        return self.baseline + self.value[node].reshape(n_rows, n_trees) @ self.tree_classes


@dataclass(frozen=True)
class CompiledPipeline:
    """The fitted pipeline's predict_proba, computed without scikit-learn's per-row overhead.

    It reads rows as the object array of the ranker's feature frame (`frame.to_numpy(dtype=object)`), whose
    columns are `columns`."""

    columns: list[str]
    categorical: list[tuple[int, dict[Any, float]]]  # (position, raw value -> code)
    ngram: Any  # the fitted NGramBackoff of the stacked n-gram step, or None
    numeric: list[int]
    trees: _Trees
    link: Any  # callable: raw predictions -> probabilities

    def predict_values(self, values: np.ndarray) -> np.ndarray:
        """Probabilities over the model's classes for rows given as an object array."""
        parts = []
        if self.categorical:
            parts.append(np.array([[lookup.get(v, np.nan) for v in values[:, position]]
                                   for position, lookup in self.categorical], dtype=float).T)
        if self.ngram is not None:
            parts.append(self.ngram.proba_of(self.histories(values, self.ngram.order)))
        if self.numeric:
            parts.append(values[:, self.numeric].astype(float))
        return self.link(self.trees.raw(np.hstack(parts)))

    def histories(self, values: np.ndarray, order: int) -> list[tuple[str, ...]]:
        """Per row, the `order` last actions, oldest first (what NGramBackoff.proba_of reads)."""
        positions = [self.columns.index(f"last_{j}") for j in range(order, 0, -1)]
        return [tuple(str(v) for v in row) for row in values[:, positions]]


def compile_pipeline(model: Pipeline | CalibratedClassifierCV, sample: pd.DataFrame) -> CompiledPipeline | None:
    """The compiled form of a fitted ranker model, or None when it has a shape this does not handle or when it
    differs from scikit-learn on `sample` (rows of the training frame)."""
    pipeline, link = _pipeline_and_link(model)
    if pipeline is None:
        return None
    columns, classifier = pipeline.named_steps["features"], pipeline.named_steps["classifier"]
    if getattr(classifier, "n_trees_per_iteration_", 1) < 2 or classifier._preprocessor is None:
        return None  # binary boosting has one tree per iteration and another link: scikit-learn serves it
    names = list(sample.columns)
    categorical, ngram, numeric = [], None, []
    for name, transformer, selected in columns.transformers_:
        if name == "categorical" and len(selected):
            lookups = _category_lookups(columns, classifier, list(selected), sample)
            categorical = [(names.index(column), lookup) for column, lookup in lookups]
        elif name == "ngram":
            ngram = transformer.table_
        elif name == "numeric":
            numeric = [names.index(column) for column in selected]
    compiled = CompiledPipeline(names, categorical, ngram, numeric, _trees(classifier), link)
    expected = model.predict_proba(sample)
    actual = compiled.predict_values(sample.to_numpy(dtype=object))
    if not np.allclose(actual, expected, rtol=TOLERANCE, atol=TOLERANCE):
        return None
    return compiled


def _pipeline_and_link(model: Pipeline | CalibratedClassifierCV) -> tuple[Pipeline | None, Any]:
    if isinstance(model, Pipeline):
        classifier = model.named_steps["classifier"]
        return model, classifier._loss.predict_proba
    calibrated = model.calibrated_classifiers_
    if len(calibrated) != 1 or calibrated[0].method != "temperature":
        return None, None
    return calibrated[0].estimator, _TemperatureLink(calibrated[0].calibrators[0])


@dataclass(frozen=True)
class _TemperatureLink:
    """Raw predictions to probabilities through the fitted temperature calibrator, as CalibratedClassifierCV does."""

    calibrator: Any

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        proba = self.calibrator.predict(raw)
        proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba


def _category_lookups(columns: Any, classifier: Any, selected: Sequence[str],
                      sample: pd.DataFrame) -> list[tuple[str, dict[Any, float]]]:
    """Per categorical column, every known raw value's code after both fitted encoders (their own output)."""
    encoder = columns.named_transformers_["categorical"]
    known = [list(categories) for categories in encoder.categories_]
    size = max(len(values) for values in known)
    frame = pd.concat([sample.iloc[[0]]] * size, ignore_index=True)
    for column, values in zip(selected, known, strict=True):
        frame[column] = pd.Series([values[i % len(values)] for i in range(size)], dtype=object)
    codes = classifier._preprocessor.transform(columns.transform(frame))
    lookups = []
    for j, (column, values) in enumerate(zip(selected, known, strict=True)):
        lookup = {value: float(codes[i, j]) for i, value in enumerate(values) if not _is_missing(value)}
        lookups.append((column, lookup))
    return lookups


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _trees(classifier: Any) -> _Trees:
    known_bitsets, f_idx_map = classifier._bin_mapper.make_known_categories_bitsets()
    fields = {name: [] for name in ("feature", "threshold", "left", "right", "missing_left", "is_leaf", "value",
                                    "categorical_row")}
    roots, tree_class, sides = [], [], []
    offset = 0
    for iteration in classifier._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            roots.append(offset)
            tree_class.append(k)
            fields["feature"].append(nodes["feature_idx"])
            fields["threshold"].append(nodes["num_threshold"])
            fields["left"].append(nodes["left"].astype(np.intp) + offset)
            fields["right"].append(nodes["right"].astype(np.intp) + offset)
            fields["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
            fields["is_leaf"].append(nodes["is_leaf"].astype(bool))
            fields["value"].append(nodes["value"])
            rows = np.full(len(nodes), -1, dtype=np.intp)
            for i in np.flatnonzero(nodes["is_categorical"] & ~nodes["is_leaf"].astype(bool)):
                rows[i] = len(sides)
                left = predictor.raw_left_cat_bitsets[nodes["bitset_idx"][i]]
                known = known_bitsets[f_idx_map[nodes["feature_idx"][i]]]
                sides.append([LEFT if _in(left, code) else RIGHT if _in(known, code) else MISSING
                              for code in range(256)])
            fields["categorical_row"].append(rows)
            offset += len(nodes)
    arrays = {name: np.concatenate(parts) for name, parts in fields.items()}
    tree_classes = np.zeros((len(roots), classifier.n_trees_per_iteration_))
    tree_classes[np.arange(len(roots)), tree_class] = 1.0
    return _Trees(roots=np.array(roots, dtype=np.intp), tree_classes=tree_classes, **arrays,
                  category_side=np.array(sides or [[MISSING] * 256], dtype=np.uint8),
                  baseline=np.asarray(classifier._baseline_prediction, dtype=float).ravel())


def _in(bitset: np.ndarray, code: int) -> bool:
    return bool((int(bitset[code // 32]) >> (code % 32)) & 1)
