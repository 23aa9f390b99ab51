"""A picture of an impact simulation: the change in workload, and the rules whose firings change most."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, safe in workers and CI

import matplotlib.pyplot as plt  # noqa: E402

_WORKLOAD = (("cases_newly_flagged", "cases_no_longer_flagged", "cases flagged"),
             ("cases_newly_blocked", "cases_no_longer_blocked", "cases blocked"),
             ("checkpoints_newly_blocking", "checkpoints_no_longer_blocking", "blocking checkpoints"),
             ("flags_added", "flags_removed", "flags"))
_RULES_SHOWN = 15


def plot_impact(report: dict[str, Any], path: Path) -> Path:
    """Two panels saved as PNG at `path`: workload gained and lost, and cases per rule under both versions."""
    changed = sorted(((rule, counts) for rule, counts in report["by_rule"].items()
                      if counts["cases_before"] != counts["cases_after"]),
                     key=lambda item: (-abs(item[1]["cases_after"] - item[1]["cases_before"]), item[0]))[:_RULES_SHOWN]
    fig, (workload, rules) = plt.subplots(1, 2, figsize=(13, 1.6 + 0.45 * max(len(changed), len(_WORKLOAD) + 2)))
    labels = [label for *_, label in _WORKLOAD]
    gained = [report["workload"][more] for more, _, _ in _WORKLOAD]
    lost = [-report["workload"][less] for _, less, _ in _WORKLOAD]
    workload.barh(labels, gained, color="#c0392b", label="added by the candidate")
    workload.barh(labels, lost, color="#27ae60", label="removed by the candidate")
    workload.axvline(0, color="black", linewidth=0.8)
    workload.invert_yaxis()
    workload.set_title(f"Workload over {report['cases']:,} cases ({report['changed_cases']:,} change)")
    workload.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8)
    if changed:
        names = [rule for rule, _ in changed]
        positions = range(len(names))
        rules.barh([p - 0.2 for p in positions], [c["cases_before"] for _, c in changed], height=0.4,
                   color="#95a5a6", label="active version")
        rules.barh([p + 0.2 for p in positions], [c["cases_after"] for _, c in changed], height=0.4,
                   color="#2c3e50", label="candidate")
        rules.set_yticks(list(positions), names, fontsize=8)
        rules.invert_yaxis()
        rules.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8)
    else:
        rules.text(0.5, 0.5, "no rule fires in a different number of cases", ha="center", va="center")
        rules.set_yticks([])
    rules.set_title("Cases in which each changed rule fires")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
