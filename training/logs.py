"""The public event logs of ../shared/data: how to read each, which protocol its reference figures use.

`python -m training.logs` reads every file there and prints what was read and how long it took.
"""

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from app.eventlogs import ColumnMapping, EventLog, read_event_log

DATA_DIR = Path(os.environ.get("CASEWISE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
TAX_MAPPING = ColumnMapping(case_id="CaseID", activity="ActivityID", timestamp="CompleteTimestamp", resource=None,
                            lifecycle=None)


@dataclass(frozen=True)
class LogSpec:
    """A known log: its file, column mapping, evaluation protocol and published reference figures (top-1)."""

    name: str
    filename: str
    protocol: str = "temporal"
    mapping: ColumnMapping | None = None
    reference: dict[str, float] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return DATA_DIR / self.filename


SHARED_LOGS = (
    LogSpec("helpdesk", "helpdesk.xes.gz", reference={"ngram_top1": 0.644}),
    LogSpec("sepsis", "sepsis.xes.gz", reference={"ngram_top1": 0.566}),
    LogSpec("bpic2020_domestic_declarations", "bpic2020_domestic_declarations.xes.gz",
            reference={"ngram_top1": 0.897}),
    LogSpec("helpdesk_tax2017", "helpdesk_tax2017.csv", protocol="tax", mapping=TAX_MAPPING,
            reference={"tax2017_lstm_top1": 0.7123}),
)


def spec_for(path: str | Path) -> LogSpec | None:
    """The known log with this file name, if any."""
    name = Path(path).name
    return next((spec for spec in SHARED_LOGS if spec.filename == name), None)


def read_log(path: str | Path, mapping: ColumnMapping | None = None) -> EventLog:
    """Read a log, with the known mapping when the file is one of the shared logs."""
    spec = spec_for(path)
    return read_event_log(path, mapping=mapping or (spec.mapping if spec else None))


def main() -> int:
    missing = [spec.filename for spec in SHARED_LOGS if not spec.path.exists()]
    if missing:
        print(f"not found in {DATA_DIR}: {', '.join(missing)}", file=sys.stderr)
        return 1
    for spec in SHARED_LOGS:
        log = read_log(spec.path)
        seconds = log.report.seconds
        print(f"{log.report.summary()}  [parse {seconds['parse']:.2f} s, build {seconds['build']:.2f} s]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
