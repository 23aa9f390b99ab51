"""Impact simulation over stored history: a changed motor-claims ruleset replayed over N demo claims.

Run: .venv/bin/python -m bench.simulation --cases 20000 --jobs 2 [--database var/bench-sim.db]

N demo claims (app/demo/claims.py) are stored in a SQLite file, migrated and filled through the app's own
intake (store_demo_case, one transaction); `--database` keeps the file and reuses it when it already holds
exactly N claims. The candidate is rulesets/motor_claim.yaml with the supervisor sign-off threshold lowered
from 10,000 to 5,000 EUR, the late-first-contact rule removed and a new flag for large injury claims.
`simulate` replays every claim under the candidate and the unchanged ruleset with `--jobs` workers, timed
from the call to the report, worker start-up included. Then a sample of claims is evaluated one by one under
both versions, and each one's differences must equal the report's. The goal: 20,000 claims in under 10 s.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from rich.progress import track
from sqlalchemy import func, select

from app.cases.service import case_data
from app.db.schema import upgrade
from app.db.session import create_db_engine, session_scope
from app.demo.claims import CASE_TYPE, generate_claims
from app.demo.seed import store_demo_case
from app.models import Case
from app.rules.model import Ruleset
from app.rules.outcome import OUTCOME_ASPECTS
from app.rules.registry import evaluator_for
from app.rules.simulation import COMPARED_ASPECTS, SimulationReport, simulate
from app.rules.validator import load_ruleset, load_ruleset_file

GOAL_S = 10.0
RULESET = Path("rulesets/motor_claim.yaml")
NEW_RULE = """
  - id: large_injury_claim_review
    description: An injury claim over 20,000 EUR is reviewed by the claims manager.
    priority: 40
    when:
      - case: {injury: true, claim_amount: {gt: 20000}}
    then:
      - flag:
          code: large_injury_claim
          severity: warning
          message: "Injury claim of {case.claim_amount} EUR: claims manager review"
"""


def candidate_of(baseline: Ruleset) -> Ruleset:
    """The baseline with a lower sign-off threshold, one flag rule fewer and one new flag rule."""
    text = baseline.source
    signoff = text.index("  - id: large_claim_needs_supervisor")
    text = text[:signoff] + text[signoff:].replace("claim_amount: {gt: 10000}", "claim_amount: {gt: 5000}", 1)
    late = text.index("  - id: coverage_verification_late")
    text = text[:late] + text[text.index("  # -- Required documents", late):]
    return load_ruleset(text.rstrip("\n") + "\n" + NEW_RULE, source="<candidate>")


def seed(url: str, cases: int) -> None:
    """Migrate the database and store `cases` demo claims unless it holds exactly that many already."""
    upgrade(url)
    engine = create_db_engine(url)
    try:
        with session_scope(engine) as session:
            held = session.scalar(select(func.count()).select_from(Case))
            if held == cases:
                print(f"reusing {held:,} stored claims")
                return
            if held:
                raise SystemExit(f"the database holds {held:,} cases, not {cases:,}: give another --database")
            for demo in track(generate_claims(cases), total=cases, description="seeding claims"):
                store_demo_case(session=session, demo=demo, max_history=10_000)
            session.commit()
    finally:
        engine.dispose()


def check_sample(report: SimulationReport, url: str, candidate: Ruleset, baseline: Ruleset, size: int) -> list[str]:
    """Mismatches between the report and claims evaluated one by one under both versions."""
    reported = {difference.case_id: difference.to_dict() for difference in report.differences}
    engine = create_db_engine(url)
    mismatches = []
    try:
        with session_scope(engine) as session:
            case_ids = sorted(session.scalars(select(Case.case_id).where(Case.case_type == CASE_TYPE)))
            for case_id in sorted(random.Random(1).sample(case_ids, min(size, len(case_ids)))):
                case = case_data(session=session, case_id=case_id)
                as_of = max((event.at for event in case.events), default=case.opened_at)
                before = evaluator_for(baseline).evaluate(case, as_of=as_of)
                after = evaluator_for(candidate).evaluate(case, as_of=as_of)
                expected = {}
                for aspect in COMPARED_ASPECTS:
                    old, new = OUTCOME_ASPECTS[aspect](before), OUTCOME_ASPECTS[aspect](after)
                    if old != new:
                        expected[aspect] = {"added": sorted(new - old), "removed": sorted(old - new)}
                got = {key: value for key, value in reported.get(case_id, {}).items() if key in COMPARED_ASPECTS}
                if got != expected:
                    mismatches.append(f"{case_id}: report {got}, one by one {expected}")
    finally:
        engine.dispose()
    return mismatches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulation", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sample", type=int, default=500, help="claims checked one by one against the report")
    parser.add_argument("--database", type=Path, help="a SQLite file to keep (reused when it holds --cases claims)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="casewise-bench-") as folder:
        url = f"sqlite:///{args.database or Path(folder) / 'claims.db'}"
        started = time.perf_counter()
        seed(url, args.cases)
        print(f"{args.cases:,} demo claims stored in {time.perf_counter() - started:.1f} s")
        baseline = load_ruleset_file(RULESET)
        candidate = candidate_of(baseline)
        shown = [-1]

        def progress(done: int, total: int) -> None:
            if done * 10 // max(total, 1) > shown[0]:
                shown[0] = done * 10 // max(total, 1)
                print(f"  {done:>7,} / {total:,} cases", file=sys.stderr, flush=True)

        # Other work on the machine slows the workers; the load average says how far to trust the figure.
        print(f"load average before timing: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        report = simulate(database_url=url, case_type=CASE_TYPE, candidate=candidate, baseline=baseline,
                          n_jobs=args.jobs, progress=progress)
        print()
        print("\n".join(report.summary_lines()))
        print(f"\ncases: {report.cases:,}   changed: {report.changed_cases:,}   failed: {report.failed_cases:,}")
        print(f"elapsed: {report.elapsed_s:.2f} s with n_jobs={report.n_jobs}   "
              f"{report.cases / report.elapsed_s:,.0f} cases/s")
        verdict = "within" if report.elapsed_s < GOAL_S else "OVER"
        note = "" if report.cases == 20_000 else f", a goal set for 20,000 cases, not {report.cases:,}"
        print(f"elapsed / goal ({GOAL_S:.0f} s): {report.elapsed_s / GOAL_S:.2f}  -> {verdict} the goal{note}")
        mismatches = check_sample(report, url, candidate, baseline, args.sample)
        print(f"sample of {min(args.sample, report.cases)} claims evaluated one by one: "
              f"{'MISMATCH' if mismatches else 'OK'}")
        for line in mismatches[:10]:
            print(f"  {line}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
