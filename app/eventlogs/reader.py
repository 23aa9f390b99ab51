"""Event logs (XES via r4pm, CSV via pandas) read into CaseData, deterministically, with a report of what was kept.

One event per row: case id, activity, timestamp, optional resource and lifecycle transition, and attributes.
Columns that are constant within every case and named as case attributes (XES trace attributes, `case:*`, the
`(case)_*` columns of Disco exports, or the columns a CSV mapping lists) become case attributes, the rest event
attributes. Where a log records start and complete transitions only the completions are kept. Events are ordered by
time, ties by file order, and numbered in that order, so reading the same file twice gives identical cases.
Attribute values are plain JSON (str, int, float, bool; timestamps as ISO-8601 UTC strings); missing values are
left out of the attribute mapping rather than stored as null.
"""

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.rules.facts import CaseData, EventData

CASE_PREFIXES = ("case:", "(case)_")
COMPLETE = "complete"
EVENT_ID_WIDTH = 6  # zero-padded so that string order (how facts break ties) is time order


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns hold what. `case_attributes=None` means: the columns with a case prefix (`case:`, `(case)_`);
    `event_attributes=None` means: every other column. Naive timestamps are read in `timezone`."""

    case_id: str = "case:concept:name"
    activity: str = "concept:name"
    timestamp: str = "time:timestamp"
    resource: str | None = "org:resource"
    lifecycle: str | None = "lifecycle:transition"
    case_attributes: tuple[str, ...] | None = None
    event_attributes: tuple[str, ...] | None = None
    timestamp_format: str | None = None
    timezone: str = "UTC"


XES_MAPPING = ColumnMapping()


@dataclass
class ImportReport:
    """What a read kept and dropped, and how long it took."""

    source: str
    format: str
    rows: int
    cases: int
    events: int
    activities: dict[str, int]
    case_attributes: list[str]
    event_attributes: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return asdict(self)

    def summary(self) -> str:
        """One line for a console."""
        dropped = sum(self.dropped.values())
        return (f"{Path(self.source).name}: {self.cases:,} cases, {self.events:,} events, "
                f"{len(self.activities)} activities, {len(self.case_attributes)} case / "
                f"{len(self.event_attributes)} event attributes, {dropped:,} rows dropped, "
                f"read in {self.seconds.get('total', 0.0):.2f} s")


@dataclass
class EventLog:
    """The cases of a log, in order of first appearance in the file, and the import report."""

    cases: list[CaseData]
    report: ImportReport


def read_event_log(path: str | Path, *, mapping: ColumnMapping | None = None, case_type: str | None = None,
                   status: str = "closed") -> EventLog:
    """The log at `path`, read by suffix (`.xes`, `.xes.gz`, `.csv`); a CSV uses XES column names unless mapped."""
    name = Path(path).name.lower()
    if name.endswith((".xes", ".xes.gz")):
        return read_xes(path, mapping=mapping, case_type=case_type, status=status)
    if name.endswith((".csv", ".csv.gz")):
        return read_csv(path, mapping=mapping or XES_MAPPING, case_type=case_type, status=status)
    raise ValueError(f"cannot tell the format of {path}: expected .xes, .xes.gz or .csv")


def read_xes(path: str | Path, *, mapping: ColumnMapping | None = None, case_type: str | None = None,
             status: str = "closed") -> EventLog:
    """An XES log (plain or gzipped) read with r4pm; trace attributes arrive as `case:*` columns."""
    from r4pm.df import import_xes  # imported here so that CSV users need not install r4pm

    started = time.perf_counter()
    polars_frame, _metadata = import_xes(str(path))
    # r4pm normalises offsets to UTC and returns naive datetimes, so naive means UTC whatever the mapping says.
    mapping = mapping or XES_MAPPING
    mapping = ColumnMapping(**{**asdict(mapping), "timezone": "UTC"})
    frame = polars_frame.to_pandas(use_pyarrow_extension_array=True)
    parsed = time.perf_counter()
    return _event_log(frame, mapping, source=str(path), fmt="xes", case_type=case_type or _stem(path),
                      status=status, started=started, parsed=parsed)


def read_csv(path: str | Path, *, mapping: ColumnMapping, case_type: str | None = None, status: str = "closed",
             **read_options: Any) -> EventLog:
    """A CSV log read with pandas under `mapping`; `read_options` go to `pandas.read_csv`."""
    started = time.perf_counter()
    # Ids and activities stay text: integer ids must not become floats when a column has gaps.
    text_columns = {mapping.case_id: "string", mapping.activity: "string"}
    if mapping.resource:
        text_columns[mapping.resource] = "string"
    header = pd.read_csv(path, nrows=0, **read_options).columns
    frame = pd.read_csv(path, dtype={c: t for c, t in text_columns.items() if c in header}, **read_options)
    parsed = time.perf_counter()
    return _event_log(frame, mapping, source=str(path), fmt="csv", case_type=case_type or _stem(path),
                      status=status, started=started, parsed=parsed)


def _stem(path: str | Path) -> str:
    name = Path(path).name
    for suffix in (".gz", ".xes", ".csv"):
        name = name.removesuffix(suffix)
    return name


def _event_log(frame: pd.DataFrame, mapping: ColumnMapping, *, source: str, fmt: str, case_type: str, status: str,
               started: float, parsed: float) -> EventLog:
    required = [mapping.case_id, mapping.activity, mapping.timestamp]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(f"{source}: no column {', '.join(map(repr, missing))}; columns are {sorted(frame.columns)}")
    rows = len(frame)
    dropped: Counter[str] = Counter()
    notes: list[str] = []

    case_ids = _text(frame[mapping.case_id])
    activities = _text(frame[mapping.activity])
    at = _utc(frame[mapping.timestamp], mapping)
    keep = np.ones(rows, dtype=bool)
    for reason, bad in (("missing case id", case_ids.isna()), ("missing activity", activities.isna()),
                        ("missing or unreadable timestamp", at.isna())):
        bad = bad.to_numpy(dtype=bool) & keep
        dropped[reason] += int(bad.sum())
        keep &= ~bad
    if mapping.lifecycle and mapping.lifecycle in frame.columns:
        keep = _keep_completions(_text(frame[mapping.lifecycle]), keep, dropped, notes)

    frame, case_ids, activities, at = frame[keep], case_ids[keep], activities[keep], at[keep]
    codes, uniques = pd.factorize(case_ids.to_numpy(), sort=False)  # cases in order of first appearance
    micros = at.to_numpy(dtype="datetime64[us]").astype(np.int64)
    order = np.lexsort((np.arange(len(codes)), micros, codes))  # by case, then time, then file order
    frame = frame.iloc[order]
    codes, micros, activity_values = codes[order], micros[order], activities.to_numpy(dtype=object)[order]

    used = {mapping.case_id, mapping.activity, mapping.timestamp, mapping.resource, mapping.lifecycle}
    case_columns, event_columns = _attribute_columns(frame, codes, mapping, used, notes)
    resource = (_text(frame[mapping.resource]).to_numpy(dtype=object)
                if mapping.resource and mapping.resource in frame.columns else None)
    cases = _build_cases(codes, uniques, micros, activity_values, resource, frame, case_columns, event_columns,
                         case_type=case_type, status=status)
    built = time.perf_counter()

    counts = Counter(activity_values.tolist())
    report = ImportReport(
        source=source, format=fmt, rows=rows, cases=len(cases), events=int(len(codes)),
        activities=dict(sorted(counts.items())), case_attributes=sorted(case_columns.values()),
        event_attributes=sorted(event_columns.values()), dropped={k: v for k, v in sorted(dropped.items()) if v},
        notes=notes,
        seconds={"parse": round(parsed - started, 3), "build": round(built - parsed, 3),
                 "total": round(built - started, 3)},
    )
    return EventLog(cases=cases, report=report)


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped strings, with blanks as missing."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _utc(values: pd.Series, mapping: ColumnMapping) -> pd.Series:
    """Timestamps as aware UTC; unreadable ones missing."""
    if isinstance(values.dtype, pd.ArrowDtype):
        values = values.astype(values.dtype.numpy_dtype if values.dtype.kind == "M" else object)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = values
    else:
        as_utc = mapping.timezone == "UTC"
        stamps = pd.to_datetime(values, format=mapping.timestamp_format, errors="coerce", utc=as_utc)
    if stamps.dt.tz is None:
        stamps = stamps.dt.tz_localize(mapping.timezone, ambiguous="NaT", nonexistent="NaT")
    return stamps.dt.tz_convert(UTC)


def _keep_completions(lifecycle: pd.Series, keep: np.ndarray, dropped: Counter, notes: list[str]) -> np.ndarray:
    """Only completions where the log has any: one event per activity instance, at the time it finished."""
    transitions = lifecycle.str.lower()
    if not (transitions[keep] == COMPLETE).any():
        notes.append("no 'complete' lifecycle transitions: every transition kept as an event")
        return keep
    other = (transitions.notna() & (transitions != COMPLETE)).to_numpy(dtype=bool) & keep
    for value, count in Counter(transitions[other].tolist()).items():
        dropped[f"lifecycle transition {value!r} (only completions kept)"] += count
    return keep & ~other


def _attribute_name(column: str) -> str:
    for prefix in CASE_PREFIXES:
        if column.startswith(prefix) and len(column) > len(prefix):
            return column[len(prefix):]
    return column


def _attribute_columns(frame: pd.DataFrame, codes: np.ndarray, mapping: ColumnMapping, used: set,
                       notes: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Column -> attribute name, for case and for event attributes (names sorted, so independent of column order)."""
    others = sorted(c for c in frame.columns if c not in used)
    if mapping.case_attributes is None:
        candidates = [c for c in others if c.startswith(CASE_PREFIXES)]
    else:
        candidates = [c for c in mapping.case_attributes if c in frame.columns and c not in used]
        notes += [f"case attribute column {c!r} not in the file" for c in mapping.case_attributes
                  if c not in frame.columns]
    if mapping.event_attributes is None:
        event_candidates = [c for c in others if c not in candidates]
    else:
        event_candidates = [c for c in mapping.event_attributes if c in frame.columns and c not in used]
        notes += [f"event attribute column {c!r} not in the file" for c in mapping.event_attributes
                  if c not in frame.columns]
    case_columns: dict[str, str] = {}
    event_columns: dict[str, str] = {c: c for c in event_candidates}
    for column in candidates:
        distinct = frame[column].groupby(codes).nunique(dropna=True)
        if len(distinct) and distinct.max() > 1:
            notes.append(f"column {column!r} varies within cases: read as an event attribute")
            event_columns[column] = _attribute_name(column)
        else:
            case_columns[column] = _attribute_name(column)
    for group in (case_columns, event_columns):
        shared = {name for name, n in Counter(group.values()).items() if n > 1}
        for column, name in group.items():
            if name in shared:
                group[column] = column  # two columns would share a name: each keeps its own
    return (dict(sorted(case_columns.items(), key=lambda kv: kv[1])),
            dict(sorted(event_columns.items(), key=lambda kv: kv[1])))


def _build_cases(codes: np.ndarray, uniques: np.ndarray, micros: np.ndarray, activities: np.ndarray,
                 resource: np.ndarray | None, frame: pd.DataFrame, case_columns: dict[str, str],
                 event_columns: dict[str, str], *, case_type: str, status: str) -> list[CaseData]:
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.array([], dtype=int)
    ends = np.r_[starts[1:], len(codes)]
    case_values = {name: _json_column(frame[column]) for column, name in case_columns.items()}
    event_values = {name: _json_column(frame[column]) for column, name in event_columns.items()}
    stamps = [datetime.fromtimestamp(m / 1e6, tz=UTC) for m in micros.tolist()]
    actors = [None] * len(codes) if resource is None else [None if v is pd.NA else v for v in resource.tolist()]
    types = activities.tolist()
    cases = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        attributes = {}
        for name, values in case_values.items():
            value = next((v for v in values[start:end] if v is not None), None)
            if value is not None:
                attributes[name] = value
        events = tuple(
            EventData(event_id=str(position).zfill(EVENT_ID_WIDTH), type=types[row], at=stamps[row], actor=actors[row],
                      attributes={name: vs[row] for name, vs in event_values.items() if vs[row] is not None})
            for position, row in enumerate(range(start, end))
        )
        cases.append(CaseData(case_id=str(uniques[codes[start]]), case_type=case_type, status=status,
                              opened_at=stamps[start], attributes=attributes, events=events))
    return cases


def _json_column(values: pd.Series) -> list[Any]:
    """A column as plain JSON values, None where missing."""
    # Arrow columns convert to Python values (None for nulls) in one C call.
    arrow = isinstance(values.dtype, pd.ArrowDtype)
    raw = values.array.__arrow_array__().to_pylist() if arrow else values.tolist()
    return [v if type(v) in _ALREADY_PLAIN else _plain(v) for v in raw]


_ALREADY_PLAIN = frozenset({str, int, bool})


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return stamp.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
