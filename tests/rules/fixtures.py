"""Small rulesets and cases for engine and evaluation tests."""

from datetime import UTC, datetime, timedelta

from app.rules.facts import CaseData, EventData

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

CLAIMS = """\
name: claims
case_type: claim
actions:
  - {id: approve, label: Approve}
  - {id: pay, label: Pay}
  - {id: escalate, label: Escalate}
case_attributes:
  amount: number
  region: text
  handler: text
event_attributes:
  documents: list
derived:
  risky: {why: text, amount: number}
  referral: {amount: number}
rules:
  - id: large
    priority: 5
    when:
      - case: {amount: {gt: 10000}}
    then:
      - flag: {code: large, message: "claim of {case.amount}"}
      - checkpoint:
          id: signoff
          blocks: [approve, pay]
          until:
            - event: {type: supervisor_approved, actor: {ne: $case.handler}}
          message: "needs a supervisor"
  - id: fraud_open
    when:
      - case: {}
      - event: {as: opened, type: fraud_check_opened}
      - no event: {type: fraud_check_cleared, at: {gt: $opened.at}}
    then:
      - forbid_action: {action: pay, reason: "fraud check open since {opened.at}"}
      - assert: {fact: risky, fields: {why: fraud, amount: $case.amount}}
  - id: docs_missing
    when:
      - event: {as: asked, type: documents_requested}
      - no event: {type: documents_received, at: {gte: $asked.at}, documents: {contains: police_report}}
    then:
      - flag: {code: documents_missing, severity: info, message: "asked at {asked.at}"}
  - id: refer
    when:
      - risky: {amount: {gte: 5000}}
    then:
      - assert: {fact: referral, fields: {amount: $risky.amount}}
  - id: must_escalate
    priority: 10
    when:
      - referral: {}
    then:
      - require_action: {action: escalate, reason: "referral of {referral.amount}"}
  - id: region_hint
    when:
      - any:
          - case: {region: {in: [north, east]}}
          - all:
              - case: {region: south}
              - history: {counts.fnol: {gte: 2}}
    then:
      - recommend_action: {action: approve, reason: "regional fast track", weight: 2}
"""


def claim(amount: float | None = 12_000, *events: tuple[str, float], region: str = "north",
          handler: str = "h1", case_id: str = "C1", **event_attrs) -> CaseData:
    """A claim with events given as (type, hours after T0), ids e1, e2, ... in the order given."""
    attributes = {"region": region, "handler": handler}
    if amount is not None:
        attributes["amount"] = amount
    return CaseData(case_id=case_id, case_type="claim", status="open", opened_at=T0, attributes=attributes,
                    events=tuple(EventData(f"e{i}", kind, T0 + timedelta(hours=hours), "h2",
                                           event_attrs.get(f"e{i}", {}))
                                 for i, (kind, hours) in enumerate(events, start=1)))
