"""Reading event logs into CaseData: mapping, ordering, attributes, lifecycle, deterministic ids, the report."""

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.eventlogs import ColumnMapping, read_csv, read_event_log, read_xes

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"

XES = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
  <extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
  <trace>
    <string key="concept:name" value="T1"/>
    <string key="region" value="north"/>
    <float key="amount" value="120.5"/>
    <event>
      <string key="concept:name" value="register"/>
      <string key="lifecycle:transition" value="start"/>
      <date key="time:timestamp" value="2024-03-01T09:00:00.000+02:00"/>
      <string key="org:resource" value="ann"/>
    </event>
    <event>
      <string key="concept:name" value="review"/>
      <string key="lifecycle:transition" value="complete"/>
      <date key="time:timestamp" value="2024-03-01T12:00:00.000+02:00"/>
      <string key="org:resource" value="bob"/>
      <int key="score" value="7"/>
      <boolean key="urgent" value="true"/>
    </event>
    <event>
      <string key="concept:name" value="register"/>
      <string key="lifecycle:transition" value="complete"/>
      <date key="time:timestamp" value="2024-03-01T09:30:00.000+02:00"/>
      <string key="org:resource" value="ann"/>
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="T2"/>
    <string key="region" value="south"/>
    <float key="amount" value="80.0"/>
    <event>
      <string key="concept:name" value="register"/>
      <string key="lifecycle:transition" value="complete"/>
      <date key="time:timestamp" value="2024-03-02T08:00:00.000Z"/>
      <string key="org:resource" value="cid"/>
    </event>
    <event>
      <string key="concept:name" value="close"/>
      <string key="lifecycle:transition" value="complete"/>
      <date key="time:timestamp" value="2024-03-02T08:00:00.000Z"/>
    </event>
  </trace>
</log>
"""

CSV = """case,activity,time,who,priority,step_note
B,open,2024-01-02 10:00:00,ann,high,first
A,open,2024-01-01 09:00:00,bob,low,
A,check,2024-01-01 11:00:00,bob,low,x
B,close,2024-01-02 09:00:00,ann,high,
A,,2024-01-01 12:00:00,bob,low,
,open,2024-01-01 12:00:00,bob,low,
A,close,not a time,bob,low,
A,check,2024-01-01 11:00:00,cid,low,second
"""

MAPPING = ColumnMapping(case_id="case", activity="activity", timestamp="time", resource="who", lifecycle=None,
                        case_attributes=("priority",))


@pytest.fixture
def xes_file(tmp_path):
    path = tmp_path / "small.xes.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(XES)
    return path


def test_xes_maps_standard_keys_and_keeps_only_completions(xes_file):
    log = read_xes(xes_file)
    first, second = log.cases
    assert (first.case_id, second.case_id) == ("T1", "T2")
    assert [e.type for e in first.events] == ["register", "review"]  # the start transition is dropped
    assert first.events[0].at == datetime(2024, 3, 1, 7, 30, tzinfo=UTC)  # offsets become UTC
    assert first.opened_at == first.events[0].at
    assert first.events[0].actor == "ann"
    assert second.events[1].actor is None
    assert first.attributes == {"region": "north", "amount": 120.5}
    assert first.events[1].attributes == {"score": 7, "urgent": True}
    assert first.case_type == "small" and first.status == "closed"
    assert log.report.dropped == {"lifecycle transition 'start' (only completions kept)": 1}
    assert (log.report.cases, log.report.events, log.report.rows) == (2, 4, 5)
    assert log.report.activities == {"close": 1, "register": 2, "review": 1}
    assert log.report.case_attributes == ["amount", "region"]
    assert log.report.event_attributes == ["score", "urgent"]


def test_event_ids_follow_time_order_and_ties_keep_file_order(xes_file):
    log = read_xes(xes_file)
    second = log.cases[1]
    assert [(e.event_id, e.type) for e in second.events] == [("000000", "register"), ("000001", "close")]
    assert read_xes(xes_file).cases == log.cases  # re-reading gives identical cases


def test_csv_with_a_mapping_drops_bad_rows_with_reasons(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(CSV)
    log = read_csv(path, mapping=MAPPING, case_type="ticket")
    b, a = log.cases  # cases in order of first appearance in the file
    assert b.case_id == "B" and [e.type for e in b.events] == ["close", "open"]  # sorted by time
    assert [e.type for e in a.events] == ["open", "check", "check"]
    assert [e.actor for e in a.events] == ["bob", "bob", "cid"]  # equal times keep file order
    assert [e.event_id for e in a.events] == ["000000", "000001", "000002"]
    assert a.attributes == {"priority": "low"}
    assert a.events[1].attributes == {"step_note": "x"}
    assert a.events[0].attributes == {}  # missing values are left out, not null
    assert a.case_type == "ticket"
    assert log.report.dropped == {"missing activity": 1, "missing case id": 1, "missing or unreadable timestamp": 1}
    assert log.report.events == 5


def test_a_case_attribute_that_varies_within_a_case_becomes_an_event_attribute(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("case,activity,time,colour\n1,a,2024-01-01T00:00:00Z,red\n1,b,2024-01-01T01:00:00Z,blue\n")
    mapping = ColumnMapping(case_id="case", activity="activity", timestamp="time", resource=None, lifecycle=None,
                            case_attributes=("colour",))
    log = read_csv(path, mapping=mapping)
    assert log.cases[0].attributes == {}
    assert [e.attributes["colour"] for e in log.cases[0].events] == ["red", "blue"]
    assert any("varies within cases" in note for note in log.report.notes)


def test_naive_csv_timestamps_are_read_in_the_given_zone(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("case,activity,time\n1,a,2024-07-01 12:00:00\n")
    mapping = ColumnMapping(case_id="case", activity="activity", timestamp="time", resource=None, lifecycle=None,
                            timezone="Europe/Amsterdam")
    (case,) = read_csv(path, mapping=mapping).cases
    assert case.events[0].at == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)


def test_integer_ids_stay_text_and_values_are_plain_json(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("CaseID,ActivityID,CompleteTimestamp,cost,ok\n7,1,2012-04-03 16:55:38,1.5,true\n"
                    "7,8,2012-04-03 16:55:53,,false\n")
    mapping = ColumnMapping(case_id="CaseID", activity="ActivityID", timestamp="CompleteTimestamp", resource=None,
                            lifecycle=None)
    log = read_event_log(path, mapping=mapping)
    (case,) = log.cases
    assert case.case_id == "7" and [e.type for e in case.events] == ["1", "8"]
    assert case.events[0].attributes == {"cost": 1.5, "ok": True}
    json.dumps([dict(e.attributes) for e in case.events])


def test_unknown_format_and_missing_columns_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_event_log(tmp_path / "log.parquet")
    path = tmp_path / "log.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no column 'case'"):
        read_csv(path, mapping=MAPPING)


@pytest.mark.skipif(not (SHARED / "helpdesk.xes.gz").exists(), reason="shared data not available")
def test_the_real_helpdesk_log_reads_whole():
    log = read_event_log(SHARED / "helpdesk.xes.gz")
    assert (log.report.cases, log.report.events, len(log.report.activities)) == (4580, 21348, 14)
    assert log.report.dropped == {}
    case = log.cases[0]
    assert case.case_id == "Case1"
    assert case.events[0].at == datetime(2012, 10, 9, 11, 50, 17, tzinfo=UTC)
    assert all(a.at <= b.at for c in log.cases for a, b in zip(c.events, c.events[1:], strict=False))
    json.dumps([dict(c.attributes) for c in log.cases])
