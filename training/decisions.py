"""Logged decisions as training examples: what workers actually did at the moment a suggestion was shown.

- accepted: the suggested action taken, a label;
- overridden with a catalog action: the action chosen instead, a label (the correction the model should learn);
- overridden with an ad hoc action, and dismissed: no catalog action to learn, so no example. They stay signals:
  dismissals and ad hoc overrides count as non-acceptances in the off-policy estimates and in the reports.
Each decision counts `weight` times (rows repeated; the ranker's folds keep them with their case). A decision is
a direct, labelled judgement at a decision point, where a history prefix is only what happened to come next, and
there are far fewer of them; the default weight of 5 lets a consistent override pattern outweigh the history it
corrects, without one stray decision moving the model.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.models import Decision, Suggestion
from app.recommend.features import Examples, FeatureBuilder, OutcomeFor
from app.recommend.service import case_from_snapshot

DECISION_WEIGHT = 5


@dataclass(frozen=True)
class DecisionExamples:
    examples: Examples
    used: Counter  # outcome -> decisions turned into examples
    skipped: Counter  # why -> decisions not turned into examples


def decision_examples(pairs: Sequence[tuple[Decision, Suggestion]], builder: FeatureBuilder, *,
                      outcome_for: OutcomeFor | None = None, weight: int = DECISION_WEIGHT) -> DecisionExamples:
    """Feature rows of the decided suggestions' cases, as they were when shown, labelled with the action taken."""
    used, skipped = Counter(), Counter()
    requests, labels, meta = [], [], []
    for decision, suggestion in pairs:
        if decision.outcome == "dismissed" or decision.action is None:
            skipped["dismissed"] += 1
            continue
        if decision.ad_hoc:
            skipped["ad hoc action"] += 1
            continue
        case = case_from_snapshot(suggestion.case_snapshot)
        if not case.events:
            skipped["no history"] += 1
            continue
        outcome = outcome_for(case, suggestion.as_of) if outcome_for is not None else None
        requests.append((case, None, suggestion.as_of, outcome))
        labels.append(decision.action)
        meta.append({"case_id": case.case_id, "prefix_length": len(case.events), "prefix_end": suggestion.as_of,
                     "case_start": case.events[0].at, "case_end": suggestion.as_of})
        used[decision.outcome] += 1
    if not requests:
        return DecisionExamples(Examples(pd.DataFrame(columns=builder.feature_names_), pd.Series([], dtype=object),
                                         pd.DataFrame(columns=["case_id"])), used, skipped)
    X = builder.rows(requests)
    repeat = np.repeat(np.arange(len(labels)), weight)
    index = pd.RangeIndex(len(repeat))
    X = X.iloc[repeat].set_axis(index)
    y = pd.Series(np.asarray(labels, dtype=object)[repeat], index=index, name="next_activity", dtype=object)
    return DecisionExamples(Examples(X, y, pd.DataFrame(meta).iloc[repeat].set_axis(index)), used, skipped)


def concat(first: Examples, second: Examples) -> Examples:
    """Both sets of examples, renumbered."""
    if not len(second):
        return first
    X = pd.concat([first.X, second.X], ignore_index=True)
    y = pd.concat([first.y, second.y], ignore_index=True)
    meta = pd.concat([first.meta, second.meta], ignore_index=True)
    return Examples(X, y, meta)
