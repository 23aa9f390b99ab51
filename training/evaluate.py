"""Evaluating the ranker on a log, always beside the baselines, into a JSON and a readable report.

`evaluate_log(path)` reads the log, splits it by its protocol (temporal unless the log is known to use another),
fits every model on the training part only, scores the test prefixes and, given `report_dir`, writes report.json,
report.md, report.html and the plots.
"""

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from app.eventlogs import ColumnMapping
from app.recommend.baselines import MostFrequentNextAction, NGramBackoff
from app.recommend.features import FeatureBuilder, OutcomeFor
from app.recommend.ranker import NextActionRanker, TrainedRanker
from app.rules.facts import CaseData
from training.dataset import Dataset, Protocol, build_dataset, split_cases
from training.logs import read_log, spec_for
from training.metrics import Scores, confusion, paired_bootstrap, per_action, ranks, reliability, score
from training.progress import steps
from training.train import training_metadata

RANKER = "ranker"
NGRAM = "ngram"
MOST_FREQUENT = "most_frequent"


@dataclass
class ModelResult:
    """One model's scores on the test prefixes, overall and per true action, and its timings."""

    name: str
    scores: Scores
    per_action: dict[str, dict[str, Any]]
    reliability: dict[str, Any]
    fit_seconds: float
    predict_seconds: float


@dataclass
class Report:
    """Everything an evaluation found, as plain data once `to_dict` is called."""

    log: str
    protocol: str
    dataset: dict[str, Any]
    results: dict[str, ModelResult]
    confusion: dict[str, Any]
    reference: dict[str, float] = field(default_factory=dict)
    import_report: dict[str, Any] | None = None
    explain_ms_per_row: float | None = None
    ranker_params: dict[str, Any] = field(default_factory=dict)
    versus_ngram: dict[str, dict[str, float]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    # The ranker as fitted on the training part, with what a registry records of it; not part of the report.
    fitted: tuple[TrainedRanker, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def beats_ngram(self) -> dict[str, bool]:
        """Whether the ranker's top-1 and top-3 accuracy are above the n-gram baseline's."""
        ranker, ngram = self.results[RANKER].scores, self.results[NGRAM].scores
        return {"top1": ranker.top1 > ngram.top1, "top3": ranker.top3 > ngram.top3}

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "fitted"}
        data["beats_ngram"] = self.beats_ngram
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def table(self) -> str:
        """The headline scores as a Markdown table."""
        lines = ["| model | top-1 | top-3 | MRR | log loss | fit s | predict s |", "|---|---|---|---|---|---|---|"]
        for result in self.results.values():
            s = result.scores
            log_loss = "n/a" if s.log_loss is None else f"{s.log_loss:.3f}"
            lines.append(f"| {result.name} | {s.top1:.4f} | {s.top3:.4f} | {s.mrr:.4f} | {log_loss} | "
                         f"{result.fit_seconds:.1f} | {result.predict_seconds:.2f} |")
        return "\n".join(lines)


def summary_table(reports: Sequence[Report]) -> str:
    """One Markdown table: every report, every model, with the published reference figures beside the ranker."""
    lines = ["| log | protocol | model | top-1 | top-3 | MRR | log loss | fit s | reference |",
             "|---|---|---|---|---|---|---|---|---|"]
    for report in reports:
        reference = ", ".join(f"{k} {v}" for k, v in report.reference.items())
        for name, result in report.results.items():
            s = result.scores
            log_loss = "n/a" if s.log_loss is None else f"{s.log_loss:.3f}"
            lines.append(f"| {report.log} | {report.protocol} | {name} | {s.top1:.4f} | {s.top3:.4f} | {s.mrr:.4f} "
                         f"| {log_loss} | {result.fit_seconds:.1f} | {reference if name == RANKER else ''} |")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    return asdict(value) if hasattr(value, "__dataclass_fields__") else (
        {k: _plain(v) for k, v in value.items()} if isinstance(value, dict) else value)


def default_models(ranker: NextActionRanker | None = None) -> dict[str, Callable[[], Any]]:
    """The ranker and the baselines it is always reported beside."""
    return {
        RANKER: lambda: clone(ranker) if ranker is not None else NextActionRanker(),
        NGRAM: NGramBackoff,
        MOST_FREQUENT: MostFrequentNextAction,
    }


def evaluate_log(path: str | Path, *, protocol: Protocol | None = None, mapping: ColumnMapping | None = None,
                 ranker: NextActionRanker | None = None, report_dir: str | Path | None = None,
                 progress: bool = True) -> Report:
    """Read, split, fit and score one log; writes the report files when `report_dir` is given."""
    spec = spec_for(path)
    with steps(progress) as step, step(f"reading {Path(path).name}"):
        log = read_log(path, mapping)
    return evaluate_cases(
        log.cases, name=spec.name if spec else Path(path).name, protocol=protocol or (spec.protocol if spec else
                                                                                     "temporal"),
        ranker=ranker, report_dir=report_dir, progress=progress, import_report=log.report.to_dict(),
        reference=spec.reference if spec else None,
    )


def evaluate_cases(cases: Sequence[CaseData], *, name: str, protocol: Protocol = "temporal",
                   ranker: NextActionRanker | None = None, builder: FeatureBuilder | None = None,
                   outcome_for: OutcomeFor | None = None, report_dir: str | Path | None = None, progress: bool = True,
                   import_report: dict[str, Any] | None = None, reference: dict[str, float] | None = None) -> Report:
    """Split `cases` by `protocol`, fit the ranker and the baselines on the training part, score the test part.

    `builder` and `outcome_for` give the rule outcome features of a governed case type."""
    with steps(progress) as step:
        with step("splitting and building examples"):
            dataset = build_dataset(split_cases(cases, protocol), builder=builder, outcome_for=outcome_for)
        if not len(dataset.train) or not len(dataset.test):
            raise ValueError(f"{name}: {len(dataset.train)} training and {len(dataset.test)} test examples; "
                             "need both")
        results, probabilities = {}, {}
        fitted: dict[str, Any] = {}
        for model_name, make in default_models(ranker).items():
            with step(f"fitting {model_name} on {len(dataset.train):,} examples"):
                model = make()
                started = time.perf_counter()
                if isinstance(model, NextActionRanker):
                    model.fit(dataset.train.X, dataset.train.y, groups=dataset.train.meta["case_id"])
                else:
                    model.fit(dataset.train.X, dataset.train.y)
                fit_seconds = time.perf_counter() - started
                started = time.perf_counter()
                proba = model.predict_proba(dataset.test.X)
                predict_seconds = time.perf_counter() - started
            results[model_name] = _result(model_name, model, proba, dataset, fit_seconds, predict_seconds)
            probabilities[model_name] = proba
            fitted[model_name] = model
        with step("timing explanations"):
            explain_ms = _explain_ms(fitted[RANKER], dataset)
    labels, matrix = confusion(probabilities[RANKER], fitted[RANKER].classes_, dataset.test.y)
    rank = {name: ranks(probabilities[name], fitted[name].classes_, dataset.test.y) for name in (RANKER, NGRAM)}
    cases = dataset.test.meta["case_id"]
    versus = {f"top{k}": paired_bootstrap((rank[RANKER] >= 1) & (rank[RANKER] <= k),
                                          (rank[NGRAM] >= 1) & (rank[NGRAM] <= k), cases) for k in (1, 3)}
    report = Report(
        log=name, protocol=protocol, dataset=dataset.summary(), results=results,
        confusion={"labels": labels, "counts": matrix.tolist()}, reference=reference or {},
        import_report=import_report, explain_ms_per_row=explain_ms,
        ranker_params={k: v for k, v in fitted[RANKER].get_params().items() if not callable(v)},
        versus_ngram=versus,
        fitted=(TrainedRanker(dataset.builder, fitted[RANKER]),
                training_metadata(dataset.train, fitted[RANKER], results[RANKER].fit_seconds)),
    )
    if report_dir is not None:
        from training.report import write_report

        write_report(report, report_dir)
    return report


def _result(name: str, model: Any, proba: np.ndarray, dataset: Dataset, fit_seconds: float,
            predict_seconds: float) -> ModelResult:
    classes, y = model.classes_, dataset.test.y
    return ModelResult(name=name, scores=score(proba, classes, y), per_action=per_action(proba, classes, y),
                       reliability=reliability(proba, classes, y), fit_seconds=round(fit_seconds, 3),
                       predict_seconds=round(predict_seconds, 3))


def _explain_ms(ranker: NextActionRanker, dataset: Dataset, rows: int = 500) -> float:
    sample = dataset.test.X.iloc[:rows]
    started = time.perf_counter()
    ranker.explain(sample)
    return round((time.perf_counter() - started) * 1000 / max(len(sample), 1), 3)
