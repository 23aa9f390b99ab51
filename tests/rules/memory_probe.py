"""Evaluates N distinct cases in this process and prints the growth of resident memory (run as a script)."""

import random
import resource
import sys
from datetime import timedelta

from app.rules.compiler import compile_ruleset
from app.rules.evaluation import Evaluator
from app.rules.validator import load_ruleset
from tests.rules.fixtures import CLAIMS, T0, claim

KINDS = ("fnol", "fraud_check_opened", "fraud_check_cleared", "documents_requested", "documents_received",
         "supervisor_approved")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def main(count: int) -> None:
    evaluator = Evaluator(compile_ruleset(load_ruleset(CLAIMS)))
    rng = random.Random(11)

    def run(n: int, offset: int) -> None:
        for k in range(offset, offset + n):
            events = [(rng.choice(KINDS), rng.randrange(0, 240)) for _ in range(rng.randrange(0, 12))]
            case = claim(rng.choice([None, 800, 6_000, 15_000]) if k % 97 else 5_000, *events,
                         region=rng.choice(["north", "south", "west"]), case_id=f"M{k}")
            try:
                evaluator.evaluate(case, as_of=T0 + timedelta(days=20))
            except Exception as exc:  # consequence errors are part of the workload
                if type(exc).__name__ != "RuleConsequenceError":
                    raise

    run(2_000, 0)  # warm-up: caches, allocator pools
    before = rss_mb()
    run(count, 2_000)
    print(f"{rss_mb() - before:.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]))
