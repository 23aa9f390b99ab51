"""The `casewise` command line against a real database."""

import sys

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.auth.keys import authenticate
from app.auth.roles import Role
from app.cli.main import app, main
from app.db.session import session_factory
from app.demo.seed import DEMO_KEY_NAME
from app.models import ApiKey, Case, CaseEvent

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_keys_create_prints_a_working_key_once(configured):
    key = invoke("keys", "create", "--role", "auditor", "--name", "audit-team").stdout.strip()
    with session_factory(configured.engine)() as session:
        principal = authenticate(session=session, key=key)
    assert principal.role == Role.AUDITOR
    listing = invoke("keys", "list").stdout
    assert "audit-team" in listing
    assert key not in listing


def test_keys_create_refuses_an_unknown_role(configured):
    result = runner.invoke(app, ["keys", "create", "--role", "root", "--name", "x"])
    assert result.exit_code == 2
    assert "root" in result.output


def test_keys_revoke(configured):
    key = invoke("keys", "create", "--role", "client", "--name", "to-revoke").stdout.strip()
    with session_factory(configured.engine)() as session:
        key_id = authenticate(session=session, key=key).key_id
    invoke("keys", "revoke", str(key_id))
    with session_factory(configured.engine)() as session:
        assert authenticate(session=session, key=key) is None


def test_an_error_is_a_message_not_a_traceback(configured, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["casewise", "keys", "revoke", "999999"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "no key 999999" in err
    assert "Traceback" not in err


def test_demo_seed_is_idempotent_and_respects_if_empty(configured, tmp_path):
    def counts():
        with session_factory(configured.engine)() as session:
            return (session.scalar(select(func.count()).select_from(Case).where(Case.case_id.like("CLM-%"))),
                    session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id.like("CLM-%"))))

    invoke("demo", "seed", "--cases", "25", "--seed", "3")
    first = counts()
    assert first[0] == 25 and first[1] > 25 * 3
    invoke("demo", "seed", "--cases", "25", "--seed", "3")
    assert counts() == first
    invoke("demo", "seed", "--cases", "40", "--if-empty")
    assert counts() == first


def test_demo_key_rotates_and_is_saved(configured, tmp_path):
    target = tmp_path / "demo-key"
    first = invoke("demo", "key", "--file", str(target)).stdout.strip()
    second = invoke("demo", "key", "--file", str(target)).stdout.strip()
    assert target.read_text().strip() == second != first
    assert target.stat().st_mode & 0o077 == 0
    with session_factory(configured.engine)() as session:
        assert authenticate(session=session, key=first) is None
        assert authenticate(session=session, key=second).role == Role.ADMIN
        live = session.scalar(select(func.count()).select_from(ApiKey).where(
            ApiKey.name == DEMO_KEY_NAME, ApiKey.revoked_at.is_(None)))
    assert live == 1


def test_db_upgrade_is_a_noop_at_head(configured):
    assert "head" in invoke("db", "upgrade").stdout
