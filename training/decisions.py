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
from app.rules.facts import CaseData

DECISION_WEIGHT = 5


@dataclass(frozen=True)
class Learnable:
    """The logged decisions sorted: those with an action to learn (and their cases as shown), and the rest."""

    decisions: list[tuple[Decision, Suggestion, CaseData]]
    used: Counter  # outcome -> decisions to learn from
    skipped: Counter  # why -> decisions not learnt from


def learnable(pairs: Sequence[tuple[Decision, Suggestion]]) -> Learnable:
    """Which logged decisions become examples (accepted, and overridden with a catalog action), and why not."""
    kept, used, skipped = [], Counter(), Counter()
    for decision, suggestion in pairs:
        case = case_from_snapshot(suggestion.case_snapshot)
        if decision.outcome == "dismissed" or decision.action is None:
            skipped["dismissed"] += 1
        elif decision.ad_hoc:
            skipped["ad hoc action"] += 1
        elif not case.events:
            skipped["no history"] += 1
        else:
            kept.append((decision, suggestion, case))
            used[decision.outcome] += 1
    return Learnable(kept, used, skipped)


def decision_examples(decisions: Learnable, builder: FeatureBuilder, *, outcome_for: OutcomeFor | None = None,
                      weight: int = DECISION_WEIGHT) -> Examples:
    """Feature rows of the decided suggestions' cases, as they were when shown, labelled with the action taken."""
    if not decisions.decisions:
        return Examples(pd.DataFrame(columns=builder.feature_names_), pd.Series([], dtype=object),
                        pd.DataFrame(columns=["case_id"]))
    requests = [(case, None, suggestion.as_of,
                 outcome_for(case, suggestion.as_of) if outcome_for is not None else None)
                for _, suggestion, case in decisions.decisions]
    labels = np.asarray([decision.action for decision, _, _ in decisions.decisions], dtype=object)
    meta = pd.DataFrame([{"case_id": case.case_id, "prefix_length": len(case.events), "prefix_end": suggestion.as_of,
                          "case_start": case.events[0].at, "case_end": suggestion.as_of}
                         for _, suggestion, case in decisions.decisions])
    repeat = np.repeat(np.arange(len(labels)), weight)
    index = pd.RangeIndex(len(repeat))
    X = builder.rows(requests).iloc[repeat].set_axis(index)
    y = pd.Series(labels[repeat], index=index, name="next_activity", dtype=object)
    return Examples(X, y, meta.iloc[repeat].set_axis(index))


def concat(first: Examples, second: Examples) -> Examples:
    """Both sets of examples, renumbered."""
    if not len(second):
        return first
    X = pd.concat([first.X, second.X], ignore_index=True)
    y = pd.concat([first.y, second.y], ignore_index=True)
    meta = pd.concat([first.meta, second.meta], ignore_index=True)
    return Examples(X, y, meta)
