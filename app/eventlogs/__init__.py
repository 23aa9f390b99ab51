"""Real event logs (XES, CSV) read into the canonical in-memory case, CaseData."""

from app.eventlogs.reader import ColumnMapping, EventLog, ImportReport, read_csv, read_event_log, read_xes

__all__ = ["ColumnMapping", "EventLog", "ImportReport", "read_csv", "read_event_log", "read_xes"]
