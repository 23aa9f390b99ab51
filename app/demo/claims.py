"""Deterministic demo data: motor-insurance claims with realistic, varied histories.

`generate_claims(count, seed)` yields the same claims for the same seed, and claim i is the same whatever `count`
is; nothing reads the clock or touches a database. A claim's path follows its attributes (fast track for glass and
small damage, documents by incident type, an assessor for larger damage, fraud checks driven by fraud indicators,
supervisor sign-off above SUPERVISOR_THRESHOLD, rejections, complaints, reopenings) and the habits of its handler.
A small rate of compliance slips (SLIPS) is left in on purpose, for rulesets to catch. Claims still running at
SNAPSHOT_AT end mid-process, with a status that says where they are.
"""

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from app.cases.schemas import CaseIn, EventIn

CASE_TYPE = "motor_claim"

EVENT_TYPES = (
    "fnol_received",
    "coverage_verified",
    "documents_requested",
    "documents_received",
    "reminder_sent",
    "assessor_assigned",
    "vehicle_inspected",
    "assessment_completed",
    "fraud_check_opened",
    "fraud_check_cleared",
    "fraud_escalated",
    "siu_investigation_closed",
    "supervisor_approval_requested",
    "supervisor_approved",
    "claim_approved",
    "claim_rejected",
    "payment_issued",
    "customer_contacted",
    "complaint_received",
    "claim_closed",
    "claim_reopened",
)
STATUSES = (
    "open",
    "pending_documents",
    "under_assessment",
    "fraud_review",
    "awaiting_approval",
    "approved",
    "paid",
    "closed",
    "rejected",
    "reopened",
)
REGIONS = ("north", "south", "east", "west", "central")
CHANNELS = ("phone", "web", "agent", "app")
INCIDENT_TYPES = ("collision", "theft", "vandalism", "glass", "weather", "fire")
INJURY_SEVERITIES = ("none", "minor", "serious")
DOCUMENT_KINDS = ("police_report", "repair_estimate", "photos", "medical_report", "driver_statement", "invoice")
FRAUD_INDICATORS = (
    "new_policy",
    "multiple_prior_claims",
    "late_reporting",
    "theft_without_police_report",
    "amount_near_vehicle_value",
    "inconsistent_statement",
)
REJECTION_REASONS = ("not_covered", "late_reporting", "excluded_damage", "fraud_confirmed")
REOPEN_REASONS = ("new_documents", "underpayment", "complaint")
SIU_FINDINGS = ("confirmed", "unfounded")
# The compliance slips a small share of claims contain, named as rulesets will name them.
SLIPS = (
    "payment_during_fraud_check",
    "large_claim_without_supervisor",
    "self_approval",
    "payment_before_approval",
    "late_first_contact",
    "late_decision",
)

SYSTEM = "system"
HANDLERS = tuple(f"handler_{n:02d}" for n in range(1, 13))
ASSESSORS = tuple(f"assessor_{n:02d}" for n in range(1, 6))
FRAUD_ANALYSTS = tuple(f"fraud_analyst_{n:02d}" for n in range(1, 4))
SUPERVISORS = tuple(f"supervisor_{n:02d}" for n in range(1, 4))

SUPERVISOR_THRESHOLD = 10_000.0
FIRST_CONTACT_SLA = timedelta(days=2)
DECISION_SLA = timedelta(days=30)
OPENED_FROM = datetime(2024, 1, 1, tzinfo=UTC)
OPENED_UNTIL = datetime(2026, 1, 1, tzinfo=UTC)
SNAPSHOT_AT = OPENED_UNTIL


@dataclass(frozen=True)
class Habits:
    """How one handler works, the same on every claim, so that a model can learn the person from the path."""

    calls_first: bool  # phones the customer before anything else
    bundles_requests: bool  # asks for every document at once rather than in two rounds
    early_assessor: bool  # assigns the assessor before the documents are in
    pace: float  # multiplies the handler's own working time per step
    reminder_days: float  # customer silence tolerated before a reminder
    sloppiness: float  # multiplies the rate of compliance slips


HABITS = dict(zip(HANDLERS, (
    Habits(calls_first=True, bundles_requests=True, early_assessor=False, pace=0.8, reminder_days=7, sloppiness=0.4),
    Habits(calls_first=False, bundles_requests=True, early_assessor=True, pace=1.0, reminder_days=5, sloppiness=0.8),
    Habits(calls_first=True, bundles_requests=False, early_assessor=False, pace=1.3, reminder_days=10, sloppiness=1.0),
    Habits(calls_first=False, bundles_requests=False, early_assessor=True, pace=0.7, reminder_days=6, sloppiness=2.2),
    Habits(calls_first=False, bundles_requests=True, early_assessor=False, pace=1.1, reminder_days=8, sloppiness=0.6),
    Habits(calls_first=True, bundles_requests=True, early_assessor=True, pace=0.9, reminder_days=5, sloppiness=0.5),
    Habits(calls_first=False, bundles_requests=False, early_assessor=False, pace=1.6, reminder_days=12, sloppiness=2.6),
    Habits(calls_first=True, bundles_requests=True, early_assessor=False, pace=1.0, reminder_days=7, sloppiness=0.7),
    Habits(calls_first=False, bundles_requests=True, early_assessor=True, pace=0.8, reminder_days=6, sloppiness=0.9),
    Habits(calls_first=True, bundles_requests=False, early_assessor=True, pace=1.2, reminder_days=9, sloppiness=1.1),
    Habits(calls_first=False, bundles_requests=True, early_assessor=False, pace=0.9, reminder_days=4, sloppiness=0.5),
    Habits(calls_first=True, bundles_requests=False, early_assessor=False, pace=1.4, reminder_days=8, sloppiness=1.7),
), strict=True))

_REGION_TEAMS = {
    "north": HANDLERS[0:2],
    "south": HANDLERS[2:4],
    "east": HANDLERS[4:6],
    "west": HANDLERS[6:9],
    "central": HANDLERS[9:12],
}
_INCIDENT_WEIGHTS = {"collision": 46, "theft": 7, "vandalism": 10, "glass": 19, "weather": 14, "fire": 4}
_REGIONAL_RISK = {"central": {"theft": 2.0, "vandalism": 1.6}, "north": {"weather": 1.7}, "south": {"fire": 1.8}}
# Calendar days a customer typically needs to produce each document.
_DOCUMENT_DAYS = {
    "photos": (0.05, 3),
    "driver_statement": (0.5, 6),
    "repair_estimate": (1, 8),
    "invoice": (1, 9),
    "police_report": (3, 14),
    "medical_report": (6, 20),
}

# The narration keeps time in hours since OPENED_FROM, a Monday at midnight UTC, so that day d is weekday d % 7;
# floats keep 5,000 claims well under a second, and times become datetimes only when recorded.
DAY = 24.0
OPEN_HOUR, CLOSE_HOUR = 7.0, 17.0  # a Central European office day, in UTC
_WINDOW = (OPENED_UNTIL - OPENED_FROM) / timedelta(hours=1)
_SNAPSHOT = (SNAPSHOT_AT - OPENED_FROM) / timedelta(hours=1)
_YEAR = 365.25 * DAY


@dataclass(frozen=True)
class DemoCase:
    """One generated claim: the case as a client would send it, and its history in order."""

    case_id: str
    case: CaseIn
    events: list[EventIn]


def generate_claims(count: int, seed: int = 7) -> Iterator[DemoCase]:
    """`count` claims, the same ones for the same seed and count (claim i does not depend on count)."""
    if count < 0:
        raise ValueError(f"count must be zero or more, got {count}")
    for index in range(count):
        yield _demo_case(seed, index)


def _demo_case(seed: int, index: int) -> DemoCase:
    """Claim `index`, drawn from its own random stream so that it never depends on the claims before it."""
    rng = random.Random(f"casewise-demo:{seed}:{index}")
    case_id = f"CLM-{index + 1:06d}"
    fraudulent = rng.random() < 0.04
    attributes, opened = _claim_attributes(rng, fraudulent)
    claim = _Claim(rng, attributes, _draw_plan(rng, attributes, fraudulent), opened)
    _narrate(claim)
    events = _recorded(case_id, claim.events)
    case = CaseIn(case_type=CASE_TYPE, status=_status_after(events), attributes=attributes, opened_at=_moment(opened))
    return DemoCase(case_id=case_id, case=case, events=events)


def _moment(hours: float) -> datetime:
    """The narration's clock reading as an aware UTC datetime, to the second."""
    return OPENED_FROM + timedelta(seconds=round(hours * 3600))


def _recorded(case_id: str, drafts: list[tuple[float, str, str, dict[str, Any]]]) -> list[EventIn]:
    """The events that happened before the snapshot, in time order, numbered."""
    kept = sorted((draft for draft in drafts if draft[0] < _SNAPSHOT), key=itemgetter(0))
    return [
        EventIn(event_id=f"{case_id}-E{number:02d}", type=kind, at=_moment(at), actor=actor, attributes=attributes)
        for number, (at, kind, actor, attributes) in enumerate(kept, start=1)
    ]


_PHASE_AFTER = {
    "fnol_received": "open",
    "coverage_verified": "open",
    "documents_received": "under_assessment",
    "assessor_assigned": "under_assessment",
    "vehicle_inspected": "under_assessment",
    "assessment_completed": "under_assessment",
    "supervisor_approval_requested": "awaiting_approval",
    "supervisor_approved": "awaiting_approval",
    "claim_approved": "approved",
    "payment_issued": "paid",
    "claim_rejected": "rejected",
    "claim_closed": "closed",
    "claim_reopened": "reopened",
}


def _status_after(events: list[EventIn]) -> str:
    """Where a claim stands after these events; a reopened claim stays `reopened` until rejected or closed again."""
    phase, outstanding, fraud_review = "open", set(), False
    for event in events:
        if event.type == "documents_requested":
            outstanding |= set(event.attributes["documents"])
        elif event.type == "documents_received":
            outstanding -= set(event.attributes["documents"])
        elif event.type == "fraud_check_opened":
            fraud_review = True
        elif event.type in ("fraud_check_cleared", "siu_investigation_closed"):
            fraud_review = event.attributes.get("finding") == "confirmed"
        elif event.type == "claim_closed":
            outstanding.clear()
        if phase != "reopened" or event.type in ("claim_rejected", "claim_closed"):
            phase = _PHASE_AFTER.get(event.type, phase)
    if phase in ("open", "under_assessment") and fraud_review:
        return "fraud_review"
    if phase in ("open", "under_assessment") and outstanding:
        return "pending_documents"
    return phase


# Attributes ---------------------------------------------------------------------------------------------------


def _claim_attributes(rng: random.Random, fraudulent: bool) -> tuple[dict[str, Any], float]:
    """The case attributes, and the hour the claim was reported."""
    region = _weighted(rng, {"north": 22, "south": 20, "east": 17, "west": 19, "central": 22})
    team = _REGION_TEAMS[region] if rng.random() < 0.85 else HANDLERS
    attributes: dict[str, Any] = {"region": region, "handler": rng.choice(team)}
    attributes |= _policyholder(rng, fraudulent)
    attributes |= _vehicle(rng)
    opened = _opening_hour(rng, attributes["channel"])
    attributes |= _incident(rng, region, opened, fraudulent)
    attributes["claim_amount"] = _claim_amount(rng, attributes, fraudulent)
    return attributes, opened


def _policyholder(rng: random.Random, fraudulent: bool) -> dict[str, Any]:
    age = int(min(88, max(18, rng.gauss(46, 15))))
    tenure = min(age - 18, int(rng.expovariate(1 / 6)))
    new_policy = rng.random() < (0.35 if fraudulent else 0.06)
    young_driver_risk = 1.6 if age < 26 else 1.0
    return {
        "policyholder_age": age,
        "customer_tenure_years": tenure,
        "policy_age_days": rng.randint(3, 89) if new_policy else rng.randint(90, 365 * (tenure + 1)),
        "prior_claims_3y": _weighted(rng, {0: 62, 1: 25, 2: 9 * young_driver_risk, 3: 3, 4: 1}) + int(fraudulent),
        "channel": _weighted(rng, {"phone": 30 + age // 2, "web": 30, "agent": 10 + age // 4, "app": 60 - age // 2}),
    }


def _vehicle(rng: random.Random) -> dict[str, Any]:
    age = min(20, int(rng.expovariate(1 / 6)))
    value = rng.lognormvariate(10.3, 0.35) * 0.86**age
    return {"vehicle_age_years": age, "vehicle_value": max(1_200, int(round(value, -2)))}


def _opening_hour(rng: random.Random, channel: str) -> float:
    """An hour in the window, more of them as the book grows and in winter; phone and agent claims in office hours."""
    growth, season = 0.8, 0.25
    while True:
        hour = rng.random() * _WINDOW
        # Winter peaks in mid-January.
        density = (1 + growth * hour / _WINDOW) * (1 + season * math.cos(2 * math.pi * (hour / _YEAR - 0.04)))
        if rng.random() * (1 + growth) * (1 + season) < density:
            break
    if channel in ("phone", "agent"):
        in_office = _into_office_hours(hour)
        if in_office != hour and in_office + 2 < _WINDOW:
            hour = in_office + rng.uniform(0, 2)
    return hour


def _incident(rng: random.Random, region: str, opened: float, fraudulent: bool) -> dict[str, Any]:
    risk = _REGIONAL_RISK.get(region, {})
    kind = _weighted(rng, {kind: weight * risk.get(kind, 1.0) for kind, weight in _INCIDENT_WEIGHTS.items()})
    delay = int(rng.expovariate(1 / 1.5)) if rng.random() < (0.7 if fraudulent else 0.95) else rng.randint(8, 60)
    incident_at = _moment(opened - delay * DAY - rng.uniform(0.5, 20))
    injury = kind == "collision" and rng.random() < 0.15
    third_party = kind == "collision" and rng.random() < 0.6
    police_odds = {"theft": 0.5 if fraudulent else 0.9, "vandalism": 0.5, "fire": 0.6, "weather": 0.02, "glass": 0.0}
    police = rng.random() < (0.9 if injury else police_odds.get(kind, 0.4 if third_party else 0.1))
    return {
        "incident_type": kind,
        "incident_at": incident_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reported_delay_days": delay,
        "injury": injury,
        "injury_severity": ("serious" if rng.random() < 0.25 else "minor") if injury else "none",
        "third_party_involved": third_party,
        "police_report_filed": police,
    }


def _claim_amount(rng: random.Random, attributes: dict[str, Any], fraudulent: bool) -> float:
    """EUR claimed: mostly a few thousand, a heavy tail from total losses and injuries."""
    kind, value = attributes["incident_type"], attributes["vehicle_value"]
    if kind == "theft" or (kind == "fire" and rng.random() < 0.5):
        amount = value * rng.uniform(1.0, 1.2 if fraudulent else 1.05)
    elif kind == "glass":
        amount = rng.uniform(150, 1_400)
    else:
        median = {"collision": 2_600, "vandalism": 1_200, "weather": 2_200, "fire": 5_000}[kind]
        amount = min(rng.lognormvariate(0, 0.8) * median, value * 1.05)
    if attributes["injury_severity"] == "minor":
        amount += rng.uniform(1_000, 8_000)
    elif attributes["injury_severity"] == "serious":
        amount += rng.uniform(15_000, 60_000)
    if fraudulent and kind != "theft":
        amount *= rng.uniform(1.1, 1.6)
    return round(max(amount, 90.0), 2)


def _fraud_indicators(attributes: dict[str, Any]) -> list[str]:
    """The red flags a fraud check names, read off the attributes."""
    flags = {
        "new_policy": attributes["policy_age_days"] < 90,
        "multiple_prior_claims": attributes["prior_claims_3y"] >= 2,
        "late_reporting": attributes["reported_delay_days"] > 14,
        "theft_without_police_report": attributes["incident_type"] == "theft" and not attributes["police_report_filed"],
        "amount_near_vehicle_value": attributes["claim_amount"] >= 0.9 * attributes["vehicle_value"],
    }
    return [name for name, raised in flags.items() if raised]


def _weighted(rng: random.Random, weights: dict[Any, float]) -> Any:
    """A key of `weights`, drawn with probability proportional to its value."""
    remaining = rng.random() * sum(weights.values())
    for option, weight in weights.items():
        remaining -= weight
        if remaining < 0:
            return option
    return next(reversed(weights))


# The plan: what will happen, drawn up front so that the narration only has to tell it -------------------------


@dataclass
class _Plan:
    """The turns one claim will take."""

    indicators: list[str]
    fast_track: bool = False
    documents: tuple[str, ...] = ()
    rejection: str | None = None
    fraud_check: str | None = None  # "intake" or "documents": when the check opens
    fraud_score: float = 0.0
    fraud_outcome: str = "cleared"  # or, after an escalation, an SIU finding
    assessor: bool = False
    inspection: bool = False
    complaint: bool = False
    reopen: str | None = None
    slips: set[str] = field(default_factory=set)


def _draw_plan(rng: random.Random, attributes: dict[str, Any], fraudulent: bool) -> _Plan:
    """The claim's path, from its attributes, whether it is fraudulent, and its handler."""
    indicators = _fraud_indicators(attributes)
    if fraudulent and rng.random() < 0.5:
        indicators.append("inconsistent_statement")
    plan = _Plan(indicators=indicators)
    _plan_fraud_check(rng, plan, fraudulent)
    kind, amount = attributes["incident_type"], attributes["claim_amount"]
    plan.fast_track = (
        plan.fraud_check is None
        and not attributes["injury"]
        and (kind == "glass" or (amount < 1_500 and kind not in ("theft", "fire")))
    )
    plan.documents = _documents_needed(rng, attributes, plan.fast_track)
    plan.assessor = not plan.fast_track and (kind == "fire" or amount >= 3_000)
    plan.inspection = plan.assessor and kind != "theft"
    _plan_rejection(rng, plan, attributes)
    _plan_aftermath(rng, plan)
    plan.slips = _draw_slips(rng, plan, amount > SUPERVISOR_THRESHOLD, HABITS[attributes["handler"]].sloppiness)
    return plan


def _plan_fraud_check(rng: random.Random, plan: _Plan, fraudulent: bool) -> None:
    """Whether and when a fraud check opens, its score, and how it ends; red flags make one likelier."""
    observed = len(plan.indicators)
    if rng.random() >= min(0.9, 0.03 + 0.22 * observed):
        return
    plan.fraud_check = "intake" if rng.random() < 0.6 else "documents"
    noise = rng.gauss(0, 0.08)
    plan.fraud_score = round(min(0.99, max(0.01, 0.12 + 0.16 * observed + 0.2 * fraudulent + noise)), 3)
    if plan.fraud_score >= 0.5:
        plan.fraud_outcome = "confirmed" if fraudulent and rng.random() < 0.9 else "unfounded"


def _plan_rejection(rng: random.Random, plan: _Plan, attributes: dict[str, Any]) -> None:
    """Rejections other than for fraud: no cover, reported too late, damage the policy excludes."""
    if rng.random() < 0.03:
        plan.rejection = "not_covered"
    elif attributes["reported_delay_days"] > 30 and rng.random() < 0.7:
        plan.rejection = "late_reporting"
    elif plan.inspection and plan.fraud_check is None and rng.random() < 0.04:
        plan.rejection = "excluded_damage"


def _plan_aftermath(rng: random.Random, plan: _Plan) -> None:
    """Complaints after a rejection, and the claims that will be reopened."""
    if plan.rejection or plan.fraud_outcome == "confirmed":
        plan.complaint = rng.random() < 0.25
        if plan.complaint and plan.rejection and rng.random() < 0.35:
            plan.reopen = "complaint"
    elif rng.random() < 0.045:
        plan.reopen = _weighted(rng, {"new_documents": 45, "underpayment": 35, "complaint": 20})


def _documents_needed(rng: random.Random, attributes: dict[str, Any], fast_track: bool) -> tuple[str, ...]:
    """What the handler asks for, the essentials first."""
    kind = attributes["incident_type"]
    if fast_track:
        return ("photos",) if rng.random() < 0.35 else ()
    wanted = {
        "collision": ["photos", "repair_estimate"],
        "theft": ["police_report", "driver_statement"],
        "vandalism": ["photos", "repair_estimate"],
        "weather": ["photos", "repair_estimate"],
        "fire": ["photos", "driver_statement"],
        "glass": ["photos", "invoice"],
    }[kind]
    if attributes["police_report_filed"] and "police_report" not in wanted:
        wanted.append("police_report")
    if attributes["third_party_involved"]:
        wanted.append("driver_statement")
    if attributes["injury"]:
        wanted.append("medical_report")
    if kind in ("theft", "fire") and rng.random() < 0.5:
        wanted.append("invoice")
    return tuple(wanted)


def _draw_slips(rng: random.Random, plan: _Plan, large: bool, sloppiness: float) -> set[str]:
    """The compliance slips this claim will make; sloppier handlers make more."""
    # Rates among the claims where a slip is possible, so that each comes to about 1% of all claims.
    rates = {
        "late_first_contact": 0.018,
        "late_decision": 0.012,
        "payment_before_approval": 0.015,
        "payment_during_fraud_check": 0.15 if plan.fraud_check and plan.fraud_outcome == "cleared" else 0.0,
        "large_claim_without_supervisor": 0.065 if large else 0.0,
        "self_approval": 0.09 if large else 0.0,
    }
    return {kind for kind, rate in rates.items() if rng.random() < rate * sloppiness}


# Office time ----------------------------------------------------------------------------------------------------


def _into_office_hours(hour: float) -> float:
    """`hour` when the office is open then, else the next opening."""
    day, time_of_day = divmod(hour, DAY)
    if day % 7 < 5 and OPEN_HOUR <= time_of_day < CLOSE_HOUR:
        return hour
    if time_of_day >= OPEN_HOUR:
        day += 1
    while day % 7 >= 5:
        day += 1
    return day * DAY + OPEN_HOUR


def _after_working_hours(hour: float, working: float) -> float:
    """The hour at which `working` hours of office time starting at `hour` are done."""
    hour = _into_office_hours(hour)
    while working >= (left := CLOSE_HOUR - hour % DAY):
        working -= left
        hour = _into_office_hours(hour // DAY * DAY + CLOSE_HOUR)
    return hour + working


def _next_payment_run(hour: float, rng: random.Random) -> float:
    """Payments leave in the nightly batch of the next working day."""
    day = hour // DAY + 1
    while day % 7 >= 5:
        day += 1
    return day * DAY + rng.uniform(1, 3)


# Narration ------------------------------------------------------------------------------------------------------


class _Claim:
    """One claim's history being written: the handler's clock, which only moves forward, and the drafts."""

    def __init__(self, rng: random.Random, attributes: dict[str, Any], plan: _Plan, opened: float) -> None:
        self.rng = rng
        self.attributes = attributes
        self.plan = plan
        self.handler: str = attributes["handler"]
        self.habits = HABITS[self.handler]
        self.digital = attributes["channel"] in ("web", "app")
        self.opened = self.now = opened
        self.events: list[tuple[float, str, str, dict[str, Any]]] = []
        self.assessor: str | None = None
        self.assessor_assigned = opened
        self.fraud_opened: float | None = None
        self.approved_total = 0.0

    def emit(self, kind: str, actor: str, at: float | None = None, **attributes: Any) -> None:
        """Draft an event at `at`, by default now; drafts are put in time order when recorded."""
        self.events.append((self.now if at is None else at, kind, actor, attributes))

    def work(self, low: float, high: float) -> None:
        """The handler spends `low`-`high` working hours, at their own pace."""
        self.now = _after_working_hours(self.now, self.rng.uniform(low, high) * self.habits.pace)

    def office(self, hour: float) -> float:
        """`hour`, or some time in the next office day when the office is closed then (mornings clear the inbox)."""
        opening = _into_office_hours(hour)
        return hour if opening == hour else opening + (CLOSE_HOUR - OPEN_HOUR) * self.rng.random() ** 2

    def later(self, start: float, low_days: float, high_days: float) -> float:
        return start + DAY * self.rng.uniform(low_days, high_days)

    def wait_days(self, low: float, high: float) -> None:
        self.now = self.office(self.later(self.now, low, high))

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def slip(self, kind: str) -> bool:
        """Whether the claim makes this planned slip here; each happens at most once."""
        if kind not in self.plan.slips:
            return False
        self.plan.slips.discard(kind)
        return True

    def customer_side(self) -> str:
        """Who records what the customer sends: the portal for digital claims, else the handler."""
        return SYSTEM if self.digital else self.handler


def _narrate(claim: _Claim) -> None:
    plan = claim.plan
    _report(claim)
    if plan.rejection in ("not_covered", "late_reporting"):
        _reject(claim, plan.rejection)
        return
    if plan.fraud_check == "intake":
        _open_fraud_check(claim)
    _collect_documents(claim)
    if plan.fraud_check == "documents":
        _open_fraud_check(claim)
    amount = claim.attributes["claim_amount"] if plan.fast_track else _assess(claim)
    if plan.rejection == "excluded_damage":
        _reject(claim, plan.rejection)
        return
    hurried = claim.slip("payment_during_fraud_check")
    if not hurried and not _settle_fraud_check(claim):
        return
    _decide_and_pay(claim, amount)
    if hurried:
        _settle_fraud_check(claim, hurried=True)
    _close(claim)
    if plan.reopen:
        _reopen_paid(claim, plan.reopen)


def _report(claim: _Claim) -> None:
    """First notice of loss, the first call, and the coverage check that the SLA times (a failed one is silent)."""
    claim.emit("fnol_received", SYSTEM if claim.digital else claim.handler)
    late = claim.slip("late_first_contact")
    covered = claim.plan.rejection != "not_covered"
    if claim.digital and covered and not late:
        # An automatic policy check, so that claims reported at the weekend do not break the SLA.
        claim.now += claim.rng.uniform(0.02, 0.5)
        claim.emit("coverage_verified", SYSTEM)
    if claim.habits.calls_first and not late:
        claim.work(0.3, 4)
        claim.emit("customer_contacted", claim.handler)
    if late:
        claim.wait_days(2.2, 5)
    if covered and (late or not claim.digital):
        claim.work(0.1, 1.5)
        claim.emit("coverage_verified", claim.handler)


def _collect_documents(claim: _Claim) -> None:
    """Requests in one round or two, as the handler likes; the assessor early if that is their habit."""
    wanted = claim.plan.documents
    rounds = [wanted] if claim.habits.bundles_requests or len(wanted) < 3 else [wanted[:2], wanted[2:]]
    for number, batch in enumerate(rounds):
        if batch:
            claim.work(0.2, 6)
            claim.emit("documents_requested", claim.handler, documents=list(batch))
        if number == 0 and claim.plan.assessor and claim.habits.early_assessor:
            _assign_assessor(claim)
        if batch:
            _await_documents(claim, batch)


def _await_documents(claim: _Claim, batch: tuple[str, ...]) -> None:
    """The customer sends what is ready in one or more shipments; long silences earn a reminder."""
    speed = claim.rng.uniform(0.6, 1.5)
    ready = sorted((claim.now + DAY * claim.rng.uniform(*_DOCUMENT_DAYS[kind]) * speed, kind) for kind in batch)
    while ready:
        first = ready[0][0]
        shipment = [(at, kind) for at, kind in ready if at <= first + 2 * DAY]
        ready = ready[len(shipment):]
        arrives = shipment[-1][0]
        _remind_until(claim, arrives)
        claim.now = max(claim.now, arrives if claim.digital else claim.office(arrives))
        claim.emit("documents_received", claim.customer_side(), documents=[kind for _, kind in shipment])


def _remind_until(claim: _Claim, arrives: float) -> None:
    for _ in range(3):
        reminder = claim.office(claim.later(claim.now, claim.habits.reminder_days, claim.habits.reminder_days + 1))
        if reminder >= arrives:
            return
        claim.now = reminder
        claim.emit("reminder_sent", SYSTEM if claim.digital and claim.chance(0.3) else claim.handler)


def _assign_assessor(claim: _Claim) -> None:
    region_assessor = ASSESSORS[REGIONS.index(claim.attributes["region"])]
    claim.assessor = region_assessor if claim.chance(0.75) else claim.rng.choice(ASSESSORS)
    claim.work(0.2, 4)
    claim.assessor_assigned = claim.now
    claim.emit("assessor_assigned", claim.handler, assessor=claim.assessor)


def _assess(claim: _Claim) -> float:
    """An assessor's inspection and report for larger damage, else a desk assessment; the amount assessed."""
    amount = _assessed_amount(claim)
    if not claim.plan.assessor:
        claim.work(1, 12)
        claim.emit("assessment_completed", claim.handler, assessed_amount=amount)
        return amount
    if claim.assessor is None:
        _assign_assessor(claim)
    if claim.plan.inspection:
        inspected = claim.office(claim.later(claim.assessor_assigned, 1, 6))
        claim.emit("vehicle_inspected", claim.assessor, at=inspected)
        claim.now = max(claim.now, inspected)
    claim.now = _after_working_hours(claim.now, claim.rng.uniform(4, 30))
    claim.emit("assessment_completed", claim.assessor, assessed_amount=amount)
    return amount


def _assessed_amount(claim: _Claim) -> float:
    claimed, value = claim.attributes["claim_amount"], claim.attributes["vehicle_value"]
    if claim.attributes["incident_type"] == "theft":
        return round(min(claimed, value) * claim.rng.uniform(0.9, 1.0), 2)
    return claimed if claim.chance(0.2) else round(claimed * claim.rng.uniform(0.7, 0.98), 2)


def _open_fraud_check(claim: _Claim) -> None:
    if claim.chance(0.6):
        claim.now += claim.rng.uniform(0.1, 3)
        actor = SYSTEM
    else:
        claim.work(0.2, 3)
        actor = claim.handler
    claim.fraud_opened = claim.now
    claim.emit("fraud_check_opened", actor, score=claim.plan.fraud_score, indicators=list(claim.plan.indicators))


def _settle_fraud_check(claim: _Claim, *, hurried: bool = False) -> bool:
    """Wait out the open fraud check; False when investigators confirmed fraud and the claim was rejected.

    A hurried handler has paid already, so the check clears only after the payment.
    """
    if claim.fraud_opened is None:
        return True
    analyst = claim.rng.choice(FRAUD_ANALYSTS)
    verdict = claim.office(claim.later(claim.fraud_opened, 1, 6))
    claim.fraud_opened = None
    if claim.plan.fraud_outcome == "cleared":
        at = max(verdict, claim.office(claim.later(claim.now, 0.5, 4))) if hurried else verdict
        claim.emit("fraud_check_cleared", analyst, at=at)
        claim.now = max(claim.now, at)
        return True
    claim.emit("fraud_escalated", analyst, at=verdict)
    claim.now = max(claim.now, verdict)
    if claim.chance(0.5):
        claim.wait_days(4, 15)
        claim.emit("customer_contacted", claim.handler)
    claim.now = max(claim.office(claim.later(claim.now, 0.5, 3)), claim.office(claim.later(verdict, 14, 60)))
    claim.emit("siu_investigation_closed", analyst, finding=claim.plan.fraud_outcome)
    if claim.plan.fraud_outcome == "confirmed":
        _reject(claim, "fraud_confirmed")
        return False
    return True


def _decide_and_pay(claim: _Claim, amount: float) -> None:
    """Sign-off above the threshold, approval and payment, with whatever slip this claim has planned."""
    if claim.slip("late_decision"):
        _stall(claim)
    if claim.attributes["claim_amount"] > SUPERVISOR_THRESHOLD:
        _supervisor_sign_off(claim)
    if claim.slip("payment_before_approval"):
        claim.work(0.5, 6)
        claim.emit("payment_issued", claim.handler, amount=amount)
        _approve(claim, amount)
    else:
        _approve(claim, amount)
        if claim.approved_total == 0 and claim.attributes["incident_type"] not in ("theft", "glass"):
            # The garage is paid on its final invoice, once the repair is done.
            claim.now = claim.later(claim.now, 3, 15)
        claim.now = _next_payment_run(claim.now, claim.rng)
        claim.emit("payment_issued", SYSTEM, amount=amount)
    claim.approved_total += amount


def _stall(claim: _Claim) -> None:
    """The file sits on a busy desk past the decision SLA, and the customer chases it."""
    resumed = claim.office(claim.later(claim.opened, 31, 45))
    if resumed > claim.now:
        claim.emit("customer_contacted", claim.handler, at=claim.office((claim.now + resumed) / 2))
        claim.now = resumed


def _supervisor_sign_off(claim: _Claim) -> None:
    if claim.slip("large_claim_without_supervisor"):
        return
    claim.work(0.5, 6)
    claim.emit("supervisor_approval_requested", claim.handler)
    if claim.slip("self_approval"):
        approver = claim.handler
        claim.work(0.1, 1)
    else:
        approver = claim.rng.choice(SUPERVISORS)
        claim.now = _after_working_hours(claim.now, claim.rng.uniform(1, 24))
    claim.emit("supervisor_approved", approver, approver=approver)


def _approve(claim: _Claim, amount: float) -> None:
    glass = claim.attributes["incident_type"] == "glass"
    if glass and claim.plan.fast_track and claim.chance(0.5):
        claim.now += claim.rng.uniform(0.05, 1)
        claim.emit("claim_approved", SYSTEM, approved_amount=amount)
        return
    claim.work(0.3, 8)
    claim.emit("claim_approved", claim.handler, approved_amount=amount)
    if claim.chance(0.35):
        claim.work(0.1, 3)
        claim.emit("customer_contacted", claim.handler)


def _close(claim: _Claim) -> None:
    """Closing waits for the repair invoice to reconcile; files nobody touches close themselves after 30 days."""
    if claim.chance(0.3):
        claim.now = claim.later(claim.now, 30, 31)
        claim.emit("claim_closed", SYSTEM)
    else:
        claim.wait_days(2, 20)
        claim.emit("claim_closed", claim.handler)


def _reject(claim: _Claim, reason: str) -> None:
    """Rejection and closure; sometimes a complaint follows, and sometimes it reopens the claim."""
    claim.work(0.5, 12)
    claim.emit("claim_rejected", claim.handler, reason=reason)
    if claim.chance(0.6):
        claim.work(0.2, 6)
        claim.emit("customer_contacted", claim.handler)
    claim.work(1, 30)
    claim.emit("claim_closed", claim.handler)
    if claim.plan.complaint:
        claim.wait_days(2, 25)
        claim.emit("complaint_received", claim.customer_side())
    if claim.plan.reopen:
        _reopen_rejected(claim)


def _reopen_rejected(claim: _Claim) -> None:
    """A complaint gets a second look: the rejection is overturned or upheld."""
    claim.work(2, 30)
    claim.emit("claim_reopened", claim.handler, reason="complaint")
    if claim.chance(0.5):
        claim.wait_days(2, 10)
        claim.emit("documents_received", claim.customer_side(), documents=["driver_statement"])
    amount = _assessed_amount(claim)
    claim.work(2, 24)
    claim.emit("assessment_completed", claim.handler, assessed_amount=amount)
    if claim.chance(0.5):
        _decide_and_pay(claim, amount)
    else:
        claim.work(0.5, 6)
        claim.emit("customer_contacted", claim.handler)
    _close(claim)


def _reopen_paid(claim: _Claim, reason: str) -> None:
    """A closed claim comes back with new documents, a dispute over the amount, or a complaint."""
    claim.wait_days(5, 60)
    if reason == "complaint":
        claim.emit("complaint_received", claim.customer_side())
    elif reason == "underpayment":
        claim.emit("customer_contacted", claim.handler)
    claim.work(1, 16)
    claim.emit("claim_reopened", claim.handler, reason=reason)
    if reason == "new_documents":
        claim.wait_days(1, 12)
        extra = {"theft": "police_report"}.get(claim.attributes["incident_type"], "photos")
        extra = "medical_report" if claim.attributes["injury"] else extra
        claim.emit("documents_received", claim.customer_side(), documents=[claim.rng.choice(("invoice", extra))])
    supplement = round(claim.approved_total * claim.rng.uniform(0.04, 0.3), 2)
    upheld = reason != "new_documents" and claim.chance(0.35)
    claim.work(2, 30)
    total = claim.approved_total if upheld else round(claim.approved_total + supplement, 2)
    claim.emit("assessment_completed", claim.assessor or claim.handler, assessed_amount=total)
    if upheld:
        claim.work(0.5, 6)
        claim.emit("customer_contacted", claim.handler)
    else:
        _decide_and_pay(claim, supplement)
    _close(claim)
