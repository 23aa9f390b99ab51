"""The loop learns: workers keep overriding X with Y in situation Z; retrained and promoted, the model shows Y first
in Z, to the running service, with the promotion in the ledger."""

from datetime import UTC, datetime, timedelta

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app.api.main import create_app
from app.audit import ledger
from app.auth.keys import create_key
from app.auth.roles import Role
from app.cases.schemas import CaseIn, EventIn
from app.cases.service import store_case
from app.cli.main import app
from app.core.config import get_settings
from app.db.session import session_factory
from app.models import AuditEntry, Suggestion
from training.promotion import PromotionRefused

CASE_TYPE = "loop_ticket"
T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
runner = CliRunner()


def store_ticket(session, case_id: str, priority: str, path: list[str], start: datetime) -> None:
    events = [EventIn(event_id=f"{case_id}-{k}", type=kind, at=start + timedelta(hours=k), actor="agent")
              for k, kind in enumerate(path)]
    store_case(session=session, case_id=case_id, data=CaseIn(case_type=CASE_TYPE, status="open",
                                                              attributes={"priority": priority}, opened_at=start),
               events=events, max_history=100)


def train(*args: str) -> str:
    result = runner.invoke(app, ["train", "--case-type", CASE_TYPE, "--threads", "1", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.split(f"registered {CASE_TYPE} model ")[1].split()[0]


def test_overrides_retrain_the_model_and_the_promotion_reaches_the_running_service(configured, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setenv("CASEWISE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CASEWISE_EXPLORATION_RATE", "0")
    get_settings.cache_clear()
    factory = session_factory(configured.engine)
    with factory() as session:
        for n in range(240):  # history: after triage, tickets are fixed whatever their priority; a few escalated
            path = ["open", "triage", "escalate" if n % 10 == 0 else "fix", "close"]
            store_ticket(session, f"LOOP-H{n}", ("high", "low")[n % 2], path, T0 + timedelta(days=n))
        starts = {f"LOOP-Z{n}": T0 + timedelta(days=300 + n) for n in range(60)}  # situation Z: high priority,
        starts["LOOP-LOW"] = T0 + timedelta(days=400)  # just triaged, waiting; and one low-priority ticket
        for case_id, start in starts.items():
            store_ticket(session, case_id, "low" if case_id == "LOOP-LOW" else "high", ["open", "triage"], start)
        _, key = create_key(session=session, name="loop", role=Role.CLIENT)
        session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    first = train()

    with TestClient(create_app(get_settings())) as client:
        def top(case_id: str) -> tuple[str, str]:
            """The first action shown for a waiting ticket, asked as it is triaged."""
            as_of = starts[case_id] + timedelta(hours=1)
            body = client.post(f"/v1/cases/{case_id}/suggestions", json={"as_of": as_of.isoformat()},
                               headers=headers).json()
            return body["actions"][0]["action"], body["suggestion_id"]

        assert top("LOOP-Z0")[0] == "fix"
        for n in range(1, 60):  # workers override: high-priority tickets get escalated instead
            _, suggestion_id = top(f"LOOP-Z{n}")
            decided = client.post(f"/v1/suggestions/{suggestion_id}/decision", headers=headers,
                                  json={"outcome": "overridden", "action": "escalate",
                                        "reason_code": "new_information", "actor": "agent-1"})
            assert decided.status_code == 201, decided.text

        second = train()  # a challenger: the champion stays until promoted
        shown, suggestion_id = top("LOOP-Z0")
        assert shown == "fix"
        with factory() as session:  # shadow mode: the challenger ranked it too, unseen
            shadow = session.get(Suggestion, suggestion_id).shadow
        assert (shadow["model_version"], shadow["actions"][0][0]) == (second, "escalate")
        # The history is perfectly predictable, so both score top-1 1.0 on its holdout: the checks cannot see what
        # only the decisions show, and refuse. A forced promotion needs a reason, and the ledger keeps it.
        refused = runner.invoke(app, ["promote", "--case-type", CASE_TYPE, "--version", second])
        assert isinstance(refused.exception, PromotionRefused) and "not above" in str(refused.exception)
        no_reason = runner.invoke(app, ["promote", "--case-type", CASE_TYPE, "--version", second, "--force"])
        assert "needs a reason" in str(no_reason.exception)
        promoted = runner.invoke(app, ["promote", "--case-type", CASE_TYPE, "--version", second, "--force",
                                       "--reason", "workers override fix with escalate for high priority"])
        assert promoted.exit_code == 0, promoted.output
        assert "off-policy acceptance on 59 decisions" in promoted.stdout
        assert top("LOOP-Z0")[0] == "escalate"  # the same running service, no restart
        assert top("LOOP-LOW")[0] == "fix"  # only situation Z changed
        rolled = runner.invoke(app, ["rollback", "--case-type", CASE_TYPE, "--reason", "checking the rollback"])
        assert rolled.exit_code == 0, rolled.output
        assert top("LOOP-Z1")[0] == "fix"  # the first champion is back, still without a restart

    with factory() as session:
        moves = session.scalars(select(AuditEntry).where(AuditEntry.kind == "model.alias_moved",
                                                         AuditEntry.subject == f"{CASE_TYPE}/champion")
                                .order_by(AuditEntry.seq)).all()
        assert [(m.content["previous"], m.content["version"]) for m in moves] == [(None, first), (first, second),
                                                                                  (second, first)]
        assert moves[1].content["forced"] is True and "escalate" in moves[1].content["reason"]
        assert moves[1].content["checks"]["beats_on_holdout"] is False
        assert moves[2].content["rollback_of"] == second
        assert ledger.verify(session=session).ok

    for suffix in (".csv", ".parquet"):
        exported = runner.invoke(app, ["export", "decisions", "--case-type", CASE_TYPE,
                                       "--out", str(tmp_path / f"decisions{suffix}")])
        assert exported.exit_code == 0, exported.output
    frame = pd.read_parquet(tmp_path / "decisions.parquet")
    assert len(frame) == 59 and set(frame["outcome"]) == {"overridden"} and set(frame["action"]) == {"escalate"}
    assert set(frame["top_action"]) == {"fix"} and frame["shown_rank"].isna().sum() == 0
    assert len(pd.read_csv(tmp_path / "decisions.csv")) == 59
