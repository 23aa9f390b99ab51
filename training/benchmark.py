"""Evaluate the ranker and the baselines on every shared log and print one table.

    python -m training.benchmark [--report-dir var/reports] [--threads N] [--only helpdesk,sepsis]
"""

import argparse
import time
from pathlib import Path

from rich.console import Console

from app.recommend.ranker import NextActionRanker
from training.evaluate import RANKER, Report, evaluate_log
from training.logs import SHARED_LOGS


def run(report_dir: Path | None, threads: int | None, only: set[str] | None, progress: bool = True) -> list[Report]:
    """Evaluate the selected shared logs; one Report each, in SHARED_LOGS order."""
    reports = []
    for spec in SHARED_LOGS:
        if only and spec.name not in only:
            continue
        started = time.perf_counter()
        report = evaluate_log(spec.path, ranker=NextActionRanker(n_threads=threads),
                              report_dir=report_dir / spec.name if report_dir else None, progress=progress)
        report.dataset["evaluation_seconds"] = round(time.perf_counter() - started, 1)
        reports.append(report)
    return reports


def summary(reports: list[Report]) -> str:
    """One Markdown table: every log, every model."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", default="", help="comma-separated log names")
    args = parser.parse_args(argv)
    only = {name for name in args.only.split(",") if name} or None
    reports = run(args.report_dir, args.threads, only)
    console = Console(soft_wrap=True)
    console.print(summary(reports), markup=False)
    failed = [r.log for r in reports if r.protocol == "temporal" and not all(r.beats_ngram.values())]
    if failed:
        console.print(f"[red]ranker not above the n-gram on: {', '.join(failed)}[/]")
    for report in reports:
        beats = report.beats_ngram
        versus = "; ".join(f"{m} {v['difference']:+.4f} [{v['low']:+.4f}, {v['high']:+.4f}]"
                           for m, v in report.versus_ngram.items())
        console.print(f"{report.log}: ranker - n-gram (95% case bootstrap) {versus}; above: {beats}", markup=False)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
