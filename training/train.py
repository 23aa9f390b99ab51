"""Fitting a ranker on cases, with the metadata the model registry (app/recommend/registry.py) records."""

import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sklearn

from app.recommend.features import Examples, FeatureBuilder, OutcomeFor
from app.recommend.ranker import NextActionRanker, TrainedRanker
from app.rules.facts import CaseData
from app.rules.model import Ruleset
from training.decisions import concat
from training.progress import steps


def fit_ranker(cases: Sequence[CaseData], *, ranker: NextActionRanker | None = None,
               builder: FeatureBuilder | None = None, ruleset: Ruleset | None = None,
               outcome_for: OutcomeFor | None = None, extra: Callable[[FeatureBuilder], Examples] | None = None,
               progress: bool = True) -> tuple[TrainedRanker, dict[str, Any]]:
    """Fit a feature builder and a ranker on every prefix of `cases`, plus the examples `extra` builds with the
    fitted builder (logged decisions); returns the builder and ranker together, and what to record."""
    builder = builder or FeatureBuilder(ruleset=ruleset)
    ranker = ranker or NextActionRanker()
    with steps(progress) as step:
        with step("building training examples"):
            builder.fit(cases)
            examples = builder.examples(cases, outcome_for=outcome_for, progress=progress)
            if extra is not None:
                examples = concat(examples, extra(builder))
        if not len(examples):
            raise ValueError("no training examples: every case has fewer than two events")
        with step(f"fitting the ranker on {len(examples):,} examples"):
            started = time.perf_counter()
            ranker.fit(examples.X, examples.y, groups=examples.meta["case_id"])
            seconds = time.perf_counter() - started
    return TrainedRanker(builder, ranker), training_metadata(examples, ranker, seconds)


def training_metadata(examples: Examples, ranker: NextActionRanker, seconds: float) -> dict[str, Any]:
    """What a registry should keep about a fitted ranker: data, classes, parameters, versions, timing."""
    meta = examples.meta
    return {
        "examples": len(examples),
        "cases": int(meta["case_id"].nunique()),
        "first_event": meta["case_start"].min().isoformat() if len(meta) else None,
        "last_event": meta["prefix_end"].max().isoformat() if len(meta) else None,
        "classes": [str(c) for c in ranker.classes_],
        "rare_classes": [str(c) for c in ranker.rare_classes_],
        "class_counts": {str(k): int(v) for k, v in examples.y.value_counts().sort_index().items()},
        "features": list(examples.X.columns),
        "params": {k: v for k, v in ranker.get_params().items() if _plain(v)},
        "calibrated": bool(getattr(ranker, "calibrated_", False)),
        "fit_seconds": round(seconds, 3),
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
    }


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | tuple)
