"""Evaluation end to end on a synthetic log, training and artifacts."""

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.recommend.ranker import NextActionRanker
from app.rules.facts import CaseData, EventData
from training.evaluate import evaluate_cases
from training.train import fit_ranker

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FAST = NextActionRanker(max_iter=30, min_samples_leaf=5)


def attribute_driven_cases(n: int, seed: int = 1) -> list[CaseData]:
    """After triage, the channel decides the next step; the history alone cannot tell which one."""
    rng = random.Random(seed)
    routes = {"phone": "call_back", "web": "send_form", "shop": "book_visit"}
    cases = []
    for i in range(n):
        channel = rng.choice(list(routes))
        path = ["open", "triage", routes[channel], "resolve", "close"]
        start = T0 + timedelta(hours=6 * i)
        events = tuple(EventData(f"{k:03d}", kind, start + timedelta(hours=k * rng.uniform(1, 5)), "agent")
                       for k, kind in enumerate(path))
        cases.append(CaseData(f"S{i}", "ticket", "closed", start, {"channel": channel}, events))
    return cases


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    return evaluate_cases(attribute_driven_cases(300), name="synthetic", ranker=FAST, report_dir=folder,
                          progress=False)


def test_the_ranker_beats_the_ngram_where_an_attribute_decides(report):
    ranker, ngram = report.results["ranker"].scores, report.results["ngram"].scores
    assert ranker.top1 > ngram.top1 + 0.1
    assert ranker.mrr > ngram.mrr
    assert ranker.log_loss < ngram.log_loss
    assert report.beats_ngram["top1"]
    assert report.versus_ngram["top1"]["low"] > 0


def test_baselines_are_always_reported_beside_the_ranker(report):
    assert list(report.results) == ["ranker", "ngram", "most_frequent"]
    assert report.dataset["protocol"] == "temporal" and report.dataset["test_examples"] > 0
    assert "call_back" in report.results["ranker"].per_action


def test_report_files_are_written(report):
    files = report.files
    for kind in ("json", "markdown", "html", "confusion", "reliability", "per_action"):
        assert kind in files
    data = json.loads(Path(files["json"]).read_text())
    assert data["log"] == "synthetic" and data["beats_ngram"]["top1"] is True
    assert "| ranker |" in Path(files["markdown"]).read_text()
    assert Path(files["confusion"]).read_bytes()[:4] == b"\x89PNG"


def test_fit_ranker_records_what_the_registry_keeps():
    cases = attribute_driven_cases(120)
    trained, metadata = fit_ranker(cases, ranker=NextActionRanker(max_iter=10, min_samples_leaf=5), progress=False)
    assert metadata["examples"] == 120 * 4 and "call_back" in metadata["classes"]
    assert metadata["fit_seconds"] >= 0 and metadata["versions"]["scikit-learn"]
    live = cases[0]
    ranking = trained.rank(live, live.events[:2])
    assert abs(sum(p for _, p in ranking) - 1) < 1e-9
