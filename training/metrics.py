"""Ranking metrics for next-action predictions: top-k accuracy, MRR, log loss, per action, and calibration.

The rank of the true action is its position in the row's probabilities, highest first, ties in `classes` order
(the order `predict` uses). A target the model has no class for (never seen in training) has no rank: it counts
as a miss in top-k and 0 in MRR, and is left out of the log loss, which would otherwise be infinite; how many
there were is reported as `unseen_targets`.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

EPS = 1e-15


@dataclass(frozen=True)
class Scores:
    n: int
    top1: float
    top3: float
    mrr: float
    log_loss: float | None
    unseen_targets: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ranks(proba: np.ndarray, classes: Sequence[str], y: Sequence[str]) -> np.ndarray:
    """1-based rank of each true action (0 where the model has no such class)."""
    proba = np.asarray(proba, dtype=float)
    position = {c: i for i, c in enumerate(classes)}
    target = np.array([position.get(v, -1) for v in y], dtype=np.int64)
    out = np.zeros(len(target), dtype=np.int64)
    known = target >= 0
    if known.any():
        rows = np.flatnonzero(known)
        p_true = proba[rows, target[rows]][:, None]
        columns = np.arange(proba.shape[1])[None, :]
        # Classes ahead: more probable, or equally probable and earlier in `classes`.
        ahead = (proba[rows] > p_true) | ((proba[rows] == p_true) & (columns < target[rows][:, None]))
        out[rows] = ahead.sum(axis=1) + 1
    return out


def score(proba: np.ndarray, classes: Sequence[str], y: Sequence[str]) -> Scores:
    """Top-1, top-3, MRR and log loss of probabilities `proba` (rows over `classes`) against targets `y`."""
    y = list(y)
    if not y:
        return Scores(0, float("nan"), float("nan"), float("nan"), None, 0)
    r = ranks(proba, classes, y)
    known = r > 0
    position = {c: i for i, c in enumerate(classes)}
    log_loss = None
    if known.any():
        rows = np.flatnonzero(known)
        p_true = np.asarray(proba, dtype=float)[rows, [position[y[i]] for i in rows]]
        log_loss = float(-np.mean(np.log(np.clip(p_true, EPS, 1.0))))
    reciprocal = np.where(known, 1.0 / np.maximum(r, 1), 0.0)
    return Scores(n=len(y), top1=float(np.mean(known & (r == 1))), top3=float(np.mean(known & (r <= 3))),
                  mrr=float(reciprocal.mean()), log_loss=log_loss, unseen_targets=int((~known).sum()))


def per_action(proba: np.ndarray, classes: Sequence[str], y: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Scores per true action, most frequent first (ties by name)."""
    y = np.asarray(list(y), dtype=object)
    actions = sorted(set(y.tolist()), key=lambda a: (-int((y == a).sum()), a))
    proba = np.asarray(proba)
    return {a: score(proba[y == a], classes, y[y == a]).to_dict() for a in actions}


def confusion(proba: np.ndarray, classes: Sequence[str], y: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Labels (true actions and predicted ones, most frequent true first) and counts[true, predicted]."""
    predicted = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)] if len(y) else np.array([], object)
    y = np.asarray(list(y), dtype=object)
    true_labels = sorted(set(y.tolist()), key=lambda a: (-int((y == a).sum()), a))
    labels = true_labels + sorted(set(predicted.tolist()) - set(true_labels))
    index = {a: i for i, a in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y.tolist(), predicted.tolist(), strict=True):
        matrix[index[t], index[p]] += 1
    return labels, matrix


def reliability(proba: np.ndarray, classes: Sequence[str], y: Sequence[str], bins: int = 10) -> dict[str, Any]:
    """Top-1 confidence against top-1 accuracy in equal-width bins, and the expected calibration error."""
    proba = np.asarray(proba, dtype=float)
    if not len(proba):
        return {"bins": [], "ece": None}
    confidence = proba.max(axis=1)
    correct = np.asarray(classes, dtype=object)[proba.argmax(axis=1)] == np.asarray(list(y), dtype=object)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        conf, acc = float(confidence[mask].mean()), float(correct[mask].mean())
        ece += mask.mean() * abs(conf - acc)
        rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": int(mask.sum()),
                     "confidence": conf, "accuracy": acc})
    return {"bins": rows, "ece": float(ece)}


def paired_bootstrap(hits_a: np.ndarray, hits_b: np.ndarray, groups: Sequence, *, resamples: int = 2000,
                     seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Difference in mean hit rate (a - b) with a bootstrap interval that resamples whole groups (cases), since
    the prefixes of one case are not independent."""
    hits_a, hits_b = np.asarray(hits_a, dtype=float), np.asarray(hits_b, dtype=float)
    _, group = np.unique(np.asarray(list(groups), dtype=object).astype(str), return_inverse=True)
    n_groups = int(group.max()) + 1 if len(group) else 0
    if n_groups == 0:
        return {"difference": float("nan"), "low": float("nan"), "high": float("nan")}
    diff = np.bincount(group, weights=hits_a - hits_b, minlength=n_groups)
    size = np.bincount(group, minlength=n_groups).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(resamples, n_groups))
    estimates = diff[draws].sum(axis=1) / size[draws].sum(axis=1)
    tail = (1 - level) / 2
    return {"difference": float(diff.sum() / size.sum()), "low": float(np.quantile(estimates, tail)),
            "high": float(np.quantile(estimates, 1 - tail))}
