"""An evaluation report on disk: report.json, report.md and report.html, with plots drawn by matplotlib (Agg)."""

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, safe in workers and CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

if TYPE_CHECKING:
    from training.evaluate import Report

MAX_CONFUSION_LABELS = 20


def write_report(report: "Report", folder: str | Path) -> dict[str, str]:
    """Write the report files into `folder` (created if needed); returns their paths by kind."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "confusion": _confusion_plot(report, folder / "confusion.png"),
        "reliability": _reliability_plot(report, folder / "reliability.png"),
        "per_action": _per_action_plot(report, folder / "per_action.png"),
    }
    files["json"] = str(folder / "report.json")
    files["markdown"] = str(folder / "report.md")
    files["html"] = str(folder / "report.html")
    report.files = files
    Path(files["json"]).write_text(report.to_json())
    Path(files["markdown"]).write_text(markdown(report))
    Path(files["html"]).write_text(to_html(report))
    return files


def markdown(report: "Report") -> str:
    """The report as Markdown, plots referenced by file name."""
    data = report.dataset
    beats = report.beats_ngram
    lines = [
        f"# Next-action evaluation: {report.log}", "",
        f"Protocol **{report.protocol}**: {data['train_cases']:,} training cases ({data['train_examples']:,} "
        f"prefixes), {data['test_cases']:,} test cases ({data['test_examples']:,} prefixes)"
        + (f", test prefixes ending after {data['test_after']}" if data.get("test_after") else "") + ".", "",
        report.table(), "",
        f"Ranker above the n-gram baseline: top-1 **{'yes' if beats['top1'] else 'NO'}**, "
        f"top-3 **{'yes' if beats['top3'] else 'NO'}**.",
    ]
    if report.versus_ngram:
        lines += ["", "Ranker minus n-gram, with a 95% bootstrap interval over test cases: " + "; ".join(
            f"{metric} {v['difference']:+.4f} [{v['low']:+.4f}, {v['high']:+.4f}]"
            for metric, v in report.versus_ngram.items()) + "."]
    if report.reference:
        lines += ["", "Published reference figures (top-1): "
                  + ", ".join(f"{k} {v:.4f}" for k, v in report.reference.items()) + "."]
    if report.explain_ms_per_row is not None:
        lines += ["", f"Explanations: {report.explain_ms_per_row:.2f} ms per row (batched)."]
    lines += ["", "## Per action (true next action)", "",
              "| action | n | ranker top-1 | n-gram top-1 | ranker top-3 | n-gram top-3 |", "|---|---|---|---|---|---|"]
    ranker, ngram = report.results["ranker"].per_action, report.results["ngram"].per_action
    for action, scores in ranker.items():
        other = ngram.get(action, {})
        lines.append(f"| {action} | {scores['n']} | {scores['top1']:.3f} | {other.get('top1', float('nan')):.3f} | "
                     f"{scores['top3']:.3f} | {other.get('top3', float('nan')):.3f} |")
    ece = {name: r.reliability.get("ece") for name, r in report.results.items()}
    lines += ["", "## Plots", "",
              "Calibration (expected calibration error of the top-1 probability): "
              + ", ".join(f"{k} {v:.3f}" for k, v in ece.items() if v is not None) + ".", "",
              "![per-action accuracy](per_action.png)", "", "![reliability](reliability.png)", "",
              "![confusion matrix](confusion.png)", ""]
    if report.import_report:
        imported = report.import_report
        lines += ["## Data", "", f"Read {imported['rows']:,} rows: {imported['cases']:,} cases, "
                  f"{imported['events']:,} events, {len(imported['activities'])} activities; dropped "
                  f"{json.dumps(imported['dropped'])}; notes: {'; '.join(imported['notes']) or 'none'}.", ""]
    lines += ["## Dataset", "", "```json", json.dumps(data, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def to_html(report: "Report") -> str:
    """The report as a self-contained HTML page (plots as sibling files)."""
    rows = "".join(
        f"<tr><td>{html.escape(r.name)}</td><td>{r.scores.top1:.4f}</td><td>{r.scores.top3:.4f}</td>"
        f"<td>{r.scores.mrr:.4f}</td><td>{'n/a' if r.scores.log_loss is None else f'{r.scores.log_loss:.3f}'}</td>"
        f"<td>{r.fit_seconds:.1f}</td></tr>"
        for r in report.results.values())
    per_action = "".join(
        f"<tr><td>{html.escape(a)}</td><td>{s['n']}</td><td>{s['top1']:.3f}</td>"
        f"<td>{report.results['ngram'].per_action.get(a, {}).get('top1', float('nan')):.3f}</td></tr>"
        for a, s in report.results["ranker"].per_action.items())
    beats = report.beats_ngram
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Next-action evaluation: {html.escape(report.log)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:right}}td:first-child{{text-align:left}}</style></head>
<body><h1>Next-action evaluation: {html.escape(report.log)}</h1>
<p>Protocol <b>{html.escape(report.protocol)}</b>; {report.dataset['train_examples']:,} training and
{report.dataset['test_examples']:,} test prefixes. Ranker above the n-gram: top-1 <b>{beats['top1']}</b>,
top-3 <b>{beats['top3']}</b>.</p>
<table><tr><th>model</th><th>top-1</th><th>top-3</th><th>MRR</th><th>log loss</th><th>fit s</th></tr>{rows}</table>
<h2>Per action</h2>
<table><tr><th>action</th><th>n</th><th>ranker top-1</th><th>n-gram top-1</th></tr>{per_action}</table>
<h2>Plots</h2><img src="per_action.png" alt="per-action accuracy"><img src="reliability.png" alt="reliability">
<img src="confusion.png" alt="confusion matrix">
<h2>Dataset</h2><pre>{html.escape(json.dumps(report.dataset, indent=2, default=str))}</pre>
</body></html>
"""


def _confusion_plot(report: "Report", path: Path) -> str:
    labels = report.confusion["labels"][:MAX_CONFUSION_LABELS]
    counts = np.asarray(report.confusion["counts"], dtype=float)[:len(labels), :len(labels)]
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.45 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), [_short(label) for label in labels], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), [_short(label) for label in labels], fontsize=8)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j]:
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted (top-1)")
    ax.set_ylabel("true next action")
    ax.set_title(f"{report.log}: ranker confusion (row share)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, path)


def _reliability_plot(report: "Report", path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, result in report.results.items():
        bins = result.reliability["bins"]
        if bins:
            ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o",
                    label=f"{name} (ECE {result.reliability['ece']:.3f})")
    ax.set_xlabel("top-1 probability")
    ax.set_ylabel("top-1 accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"{report.log}: reliability")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _per_action_plot(report: "Report", path: Path) -> str:
    actions = list(report.results["ranker"].per_action)[:MAX_CONFUSION_LABELS]
    names = list(report.results)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(actions) + 2), 4.5))
    for k, name in enumerate(names):
        scores = report.results[name].per_action
        ax.bar(np.arange(len(actions)) + k * width, [scores.get(a, {}).get("top1", 0.0) for a in actions], width,
               label=name)
    ax.set_xticks(np.arange(len(actions)) + 0.4 - width / 2,
                  [f"{_short(a)} ({report.results['ranker'].per_action[a]['n']})" for a in actions],
                  rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"{report.log}: top-1 accuracy per true next action (test count)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _short(label: Any, width: int = 28) -> str:
    text = str(label)
    return text if len(text) <= width else text[:width - 1] + "…"


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
