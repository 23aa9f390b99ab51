"""The in-process cost of one suggestion, stage by stage: facts, rules, features, model, policy.

Run: .venv/bin/python -m bench.suggestion [--events 50] [--repeat 300] [--train-cases 1500]

The case is a demo motor claim (the demo ruleset governs it) whose history is drawn out to `--events` events by
rounds of document requests, reminders, contacts and arrivals before its decision. The model is the production
ranker (NextActionRanker, calibrated, with rule outcome features) fitted on `--train-cases` generated demo claims.
Each repetition times the five stages of `app.recommend.service.suggest` in turn, on one thread:
- facts: the case as rule facts (Evaluator.facts);
- rules: the durable-rules evaluation of those facts to a RuleOutcome (Evaluator.evaluate_facts);
- features: the serving row (FeatureBuilder.row, the same code as training rows);
- model: calibrated probabilities and the features behind the top action (predict_proba_explained);
- policy: forbidden, blocked and required actions applied, epsilon-greedy order with propensities (choose).
Storing the suggestion is a database write and not part of this figure. The goal: median total under 10 ms.
"""

import argparse
import statistics
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from threadpoolctl import threadpool_limits

from app.recommend.catalog import catalog_for
from app.recommend.policy import PolicySettings, choose
from app.recommend.ranker import NextActionRanker
from app.recommend.service import policy_rng
from app.rules.facts import CaseData, EventData
from app.rules.registry import FolderRegistry, evaluator_for
from training.dataset import demo_cases, rule_outcomes
from training.train import fit_ranker

GOAL_MS = 10.0
STAGES = ("facts", "rules", "features", "model", "policy")
ROUND = ("documents_requested", "reminder_sent", "customer_contacted", "documents_received")


def drawn_out(case: CaseData, events: int) -> CaseData:
    """`case` with rounds of document chasing inserted before its decision, to exactly `events` events."""
    decision = next((i for i, e in enumerate(case.events) if e.type in ("claim_approved", "claim_rejected")),
                    len(case.events))
    head = list(case.events[:decision])
    at, actor = head[-1].at, head[-1].actor
    while len(head) < events:
        kind = ROUND[len(head) % len(ROUND)]
        at += timedelta(hours=20)
        head.append(EventData(f"{case.case_id}-extra-{len(head)}", kind, at, actor, {}))
    return replace(case, events=tuple(head[:events]), status="open")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--train-cases", type=int, default=1500)
    parser.add_argument("--rulesets", type=Path, default=Path("rulesets"))
    args = parser.parse_args(argv)

    ruleset = FolderRegistry(args.rulesets).active("motor_claim")
    evaluator = evaluator_for(ruleset)
    cases = demo_cases(args.train_cases + 1)
    print(f"fitting the ranker on {args.train_cases:,} demo claims (ruleset {ruleset.name})")
    trained, metadata = fit_ranker(cases[:-1], ranker=NextActionRanker(n_threads=1), ruleset=ruleset,
                                   outcome_for=rule_outcomes(ruleset))
    case = drawn_out(cases[-1], args.events)
    as_of = case.events[-1].at + timedelta(hours=2)
    catalog = catalog_for(case.case_type, ruleset).labels
    settings = PolicySettings(exploration=0.05, shown=5)
    timings: dict[str, list[float]] = {stage: [] for stage in STAGES}
    with threadpool_limits(limits=1):
        for repetition in range(args.repeat + 20):
            marks = [time.perf_counter()]
            facts = evaluator.facts(case, as_of=as_of)
            marks.append(time.perf_counter())
            outcome = evaluator.evaluate_facts(facts, case_id=case.case_id, as_of=as_of)
            marks.append(time.perf_counter())
            row = trained.builder.row(case, as_of=as_of, outcome=outcome)
            marks.append(time.perf_counter())
            proba, explanations = trained.estimator.predict_proba_explained(row)
            explanation, proba = explanations[0], proba[0]
            marks.append(time.perf_counter())
            scores = dict(zip(map(str, trained.estimator.classes_), map(float, proba), strict=True))
            shown = choose(catalog=catalog, scores=scores, explanations={explanation.action: []}, outcome=outcome,
                           settings=settings, rng=policy_rng(f"00000000-0000-4000-8000-{repetition:012d}"))
            marks.append(time.perf_counter())
            if repetition >= 20:  # the first ones warm caches
                for stage, start, end in zip(STAGES, marks[:-1], marks[1:], strict=True):
                    timings[stage].append((end - start) * 1000)
    totals = [sum(parts) for parts in zip(*timings.values(), strict=True)]
    print(f"\none suggestion: {len(case.events)} events, {len(facts)} facts, {len(ruleset.rules)} rules, "
          f"{row.shape[1]} features, {len(trained.estimator.classes_)} actions, {len(shown)} shown; "
          f"{args.repeat} repetitions, one thread\n")
    print(f"{'stage':<10}{'median ms':>11}{'p95 ms':>9}{'share':>8}")
    median_total = statistics.median(totals)
    for stage, values in timings.items():
        median = statistics.median(values)
        print(f"{stage:<10}{median:>11.3f}{_p95(values):>9.3f}{median / median_total:>8.0%}")
    print(f"{'total':<10}{median_total:>11.3f}{_p95(totals):>9.3f}")
    print(f"\nmedian total / goal ({GOAL_MS:.0f} ms): {median_total / GOAL_MS:.2f}"
          f"  -> {'within' if median_total < GOAL_MS else 'OVER'} the goal")
    return 0 if median_total < GOAL_MS else 1


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


if __name__ == "__main__":
    raise SystemExit(main())
