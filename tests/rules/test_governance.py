"""The lifecycle of ruleset versions, on both databases: drafts, gates, four eyes, activation, rollback, ledger."""

from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import AuditEntry, RulesetActivation, RulesetVersion
from app.rules import governance
from app.rules.governance import GateFailed
from app.rules.registry import RulesetRegistry
from app.rules.validator import RulesetInvalid, load_ruleset
from app.rules.versions import remember_ruleset

RULESETS = Path(__file__).parents[2] / "rulesets"
SOURCE = (RULESETS / "motor_claim.yaml").read_text()
TESTS = (RULESETS / "motor_claim.tests.yaml").read_text()
REVISED = SOURCE.replace("name: motor_claim\n", "name: motor_claim\n# revised: same rules, new version\n")
ALICE, BOB = "alice", "bob"


def draft(session, source=SOURCE, tests=TESTS, author=ALICE, note="first"):
    row, _ = governance.create_draft(session=session, source=source, tests_source=tests, author=author,
                                     change_note=note)
    return row


def approved(session, source=SOURCE):
    row = draft(session, source)
    governance.submit(session=session, row=row, actor=ALICE, note=None, min_coverage=1.0)
    governance.approve(session=session, row=row, actor=BOB, note="looks right", min_coverage=1.0)
    return row


def ledger_kinds(session, version):
    return [entry.kind for entry in session.scalars(select(AuditEntry).where(AuditEntry.subject == version)
                                                    .order_by(AuditEntry.seq))]


def test_a_draft_keeps_source_author_note_and_findings(session):
    row = draft(session)
    assert row.version == load_ruleset(SOURCE).version
    assert (row.status, row.author, row.change_note, row.tests_source) == ("draft", ALICE, "first", TESTS)
    assert row.analysis == []  # the example ruleset has no static-analysis findings
    assert ledger_kinds(session, row.version) == ["ruleset.drafted"]


def test_the_same_content_twice_is_one_version(session):
    first, created = governance.create_draft(session=session, source=SOURCE, tests_source=TESTS, author=ALICE,
                                             change_note=None)
    again, created_again = governance.create_draft(session=session, source=SOURCE, tests_source=None, author=BOB,
                                                   change_note=None)
    assert (created, created_again) == (True, False)
    assert again is first and again.author == ALICE


def test_a_version_first_served_from_the_folder_becomes_a_draft_when_imported(session):
    ruleset = load_ruleset(SOURCE)
    remember_ruleset(session=session, ruleset=ruleset, actor="client")
    assert session.get(RulesetVersion, ruleset.version).status == "unmanaged"
    row = draft(session)
    assert (row.status, row.author) == ("draft", ALICE)


def test_a_revision_names_its_parent(session):
    first = approved(session)
    governance.activate(session=session, row=first, actor=BOB, note="go live")
    revision = draft(session, REVISED, note="clarify")
    assert revision.parent_version == first.version


def test_an_invalid_source_or_test_suite_is_refused_with_its_lines(session):
    with pytest.raises(RulesetInvalid) as invalid:
        draft(session, SOURCE.replace("case_type: motor_claim", "case_type: [motor_claim]"))
    assert invalid.value.problems[0].line == 5
    with pytest.raises(RulesetInvalid):
        draft(session, tests="tests: nope\n")


def test_submission_runs_the_gates_and_keeps_the_run(session):
    row = draft(session)
    governance.submit(session=session, row=row, actor=ALICE, note="ready", min_coverage=1.0)
    assert row.status == "submitted" and row.submitted_by == ALICE
    assert row.test_run["passed"] and row.test_run["tests"] >= 50 and row.test_run["coverage"] == 1.0


def test_a_failing_test_suite_blocks_submission(session):
    broken = TESTS.replace("      flags: [late_first_contact]", "      flags: [no_such_flag]", 1)
    row = draft(session, tests=broken)
    with pytest.raises(GateFailed) as failed:
        governance.submit(session=session, row=row, actor=ALICE, note=None, min_coverage=1.0)
    assert "no_such_flag" in failed.value.detail[0]["problem"]
    assert row.status == "draft"


def test_missing_tests_or_coverage_block_submission(session):
    row = draft(session, tests=None)
    with pytest.raises(GateFailed, match="gates"):
        governance.submit(session=session, row=row, actor=ALICE, note=None, min_coverage=0.0)
    one_test = TESTS[:TESTS.index("  # -- Coverage and first contact")]
    thin = draft(session, REVISED, tests=one_test)
    with pytest.raises(GateFailed) as failed:
        governance.submit(session=session, row=thin, actor=ALICE, note=None, min_coverage=1.0)
    assert "coverage" in failed.value.detail[-1]["problem"]
    governance.submit(session=session, row=thin, actor=ALICE, note=None, min_coverage=0.0)
    assert thin.test_run["coverage"] < 1.0


def test_the_author_may_not_approve_their_own_version(session):
    row = draft(session)
    governance.submit(session=session, row=row, actor=ALICE, note=None, min_coverage=1.0)
    with pytest.raises(Forbidden):
        governance.approve(session=session, row=row, actor=ALICE, note=None, min_coverage=1.0)
    governance.approve(session=session, row=row, actor=BOB, note=None, min_coverage=1.0)
    assert (row.status, row.approved_by) == ("approved", BOB)


@pytest.mark.parametrize("stage", ["draft", "submitted"])
def test_only_approved_versions_can_be_activated(session, stage):
    row = draft(session)
    if stage == "submitted":
        governance.submit(session=session, row=row, actor=ALICE, note=None, min_coverage=1.0)
    with pytest.raises(GateFailed, match="only approved"):
        governance.activate(session=session, row=row, actor=BOB, note=None)
    assert session.get(RulesetActivation, "motor_claim") is None


def test_a_submitted_version_is_immutable_and_steps_cannot_be_skipped(session):
    row = draft(session)
    with pytest.raises(GateFailed):
        governance.approve(session=session, row=row, actor=BOB, note=None, min_coverage=1.0)
    governance.submit(session=session, row=row, actor=ALICE, note=None, min_coverage=1.0)
    with pytest.raises(GateFailed):
        governance.submit(session=session, row=row, actor=ALICE, note=None, min_coverage=1.0)
    row.source = REVISED
    with pytest.raises(Exception, match="never changes"):  # the database refuses, on both backends
        session.flush()
    session.rollback()


def test_activation_moves_the_pointer_and_retires_the_replaced_version(session):
    registry = RulesetRegistry(None)
    first = approved(session)
    governance.activate(session=session, row=first, actor=BOB, note="go live")
    assert registry.find(session=session, case_type="motor_claim").version == first.version
    second = approved(session, REVISED)
    pointer = governance.activate(session=session, row=second, actor=BOB, note="clarified")
    assert (pointer.version, pointer.previous_version) == (second.version, first.version)
    assert (first.status, second.status) == ("retired", "active")
    assert registry.find(session=session, case_type="motor_claim").version == second.version
    with pytest.raises(Conflict):
        governance.activate(session=session, row=second, actor=BOB, note=None)


def test_rollback_activates_the_replaced_version_again(session):
    registry = RulesetRegistry(None)
    first, second = approved(session), approved(session, REVISED)
    governance.activate(session=session, row=first, actor=BOB, note="go live")
    governance.activate(session=session, row=second, actor=BOB, note="clarified")
    with pytest.raises(InvalidInput, match="say why"):
        governance.rollback(session=session, case_type="motor_claim", actor=BOB, note=None)
    governance.rollback(session=session, case_type="motor_claim", actor=BOB, note="complaints")
    assert registry.find(session=session, case_type="motor_claim").version == first.version
    assert (first.status, second.status) == ("active", "retired")
    assert ledger_kinds(session, first.version)[-1] == "ruleset.rolled_back"


def test_rollback_without_history_is_not_found(session):
    with pytest.raises(NotFound):
        governance.rollback(session=session, case_type="motor_claim", actor=BOB, note="why not")


def test_every_transition_is_in_the_ledger_with_who_and_why(session):
    row = approved(session)
    governance.activate(session=session, row=row, actor=BOB, note="go live")
    entries = session.scalars(select(AuditEntry).where(AuditEntry.subject == row.version)
                              .order_by(AuditEntry.seq)).all()
    assert [(e.kind, e.actor, e.content["note"]) for e in entries] == [
        ("ruleset.drafted", ALICE, "first"), ("ruleset.submitted", ALICE, None),
        ("ruleset.approved", BOB, "looks right"), ("ruleset.activated", BOB, "go live")]


def test_rejection_needs_a_reason_and_retires_the_version(session):
    row = draft(session)
    governance.submit(session=session, row=row, actor=ALICE, note=None, min_coverage=1.0)
    with pytest.raises(InvalidInput):
        governance.reject(session=session, row=row, actor=BOB, note=" ")
    governance.reject(session=session, row=row, actor=BOB, note="threshold too low")
    assert row.status == "retired"
    with pytest.raises(GateFailed):
        governance.activate(session=session, row=row, actor=BOB, note=None)


def test_versions_are_found_by_prefix(session):
    row = draft(session)
    assert governance.find_version(session=session, name="motor_claim", ref=row.version[:10]) is row
    with pytest.raises(InvalidInput):
        governance.find_version(session=session, name="motor_claim", ref=row.version[:4])
    with pytest.raises(NotFound):
        governance.find_version(session=session, name="other", ref=row.version)


def test_import_creates_drafts_only_for_changed_files_and_export_writes_the_active_ones(session, tmp_path):
    first = governance.import_folder(session=session, paths=[RULESETS], author=ALICE, change_note=None)
    assert sorted((item.name, item.created) for item in first) == [
        ("benefit_review", True), ("fraud_investigation", True), ("motor_claim", True)]
    again = governance.import_folder(session=session, paths=[RULESETS], author=ALICE, change_note=None)
    assert not any(item.created for item in again)
    (tmp_path / "motor_claim.yaml").write_text(REVISED)
    changed = governance.import_folder(session=session, paths=[tmp_path], author=ALICE, change_note="tweak")
    assert [(item.name, item.created) for item in changed] == [("motor_claim", True)]

    row = session.get(RulesetVersion, first[2].version)
    governance.submit(session=session, row=row, actor=ALICE, note=None, min_coverage=1.0)
    governance.approve(session=session, row=row, actor=BOB, note=None, min_coverage=1.0)
    governance.activate(session=session, row=row, actor=BOB, note=None)
    out = tmp_path / "export"
    assert governance.export_active(session=session, folder=out) == [out / "motor_claim.yaml"]
    assert (out / "motor_claim.yaml").read_text() == SOURCE
    assert (out / "motor_claim.tests.yaml").read_text() == TESTS
    assert not any(i.created for i in governance.import_folder(session=session, paths=[out], author=ALICE,
                                                                change_note=None))


def test_import_is_all_or_nothing(session, tmp_path):
    (tmp_path / "good.yaml").write_text(REVISED)
    (tmp_path / "bad.yaml").write_text("name: bad\ncase_type: x\nrules: nope\n")
    with pytest.raises(RulesetInvalid) as invalid:
        governance.import_folder(session=session, paths=[tmp_path], author=ALICE, change_note=None)
    assert str(tmp_path / "bad.yaml") in str(invalid.value.problems[0])


def test_approval_runs_the_gates_again(session):
    one_test = TESTS[:TESTS.index("  # -- Coverage and first contact")]
    row = draft(session, tests=one_test)
    governance.submit(session=session, row=row, actor=ALICE, note=None, min_coverage=0.0)
    with pytest.raises(GateFailed, match="gates"):
        governance.approve(session=session, row=row, actor=BOB, note=None, min_coverage=1.0)
    assert row.status == "submitted"


def test_a_revision_of_the_folder_version_names_it_as_parent_and_never_a_mere_draft(session):
    folder = RulesetRegistry(RULESETS)
    unrelated = draft(session, REVISED.replace("# revised", "# another idea"))
    revision, _ = governance.create_draft(session=session, source=REVISED, tests_source=TESTS, author=ALICE,
                                          change_note=None, registry=folder)
    assert unrelated.parent_version is None and revision.parent_version is None  # the folder's is not stored
    served = draft(session)  # the folder's version, imported
    again = REVISED.replace("# revised", "# revised again")
    second, _ = governance.create_draft(session=session, source=again, tests_source=TESTS, author=ALICE,
                                        change_note=None, registry=folder)
    assert second.parent_version == served.version


def test_the_overview_says_where_each_ruleset_comes_from(session):
    folder = RulesetRegistry(RULESETS)

    def listed():
        return {entry["name"]: (entry["origin"], entry["active_version"][:8] if entry["active_version"] else None,
                                entry["versions"]) for entry in governance.overview(session=session, registry=folder)}

    served = load_ruleset(SOURCE).version
    assert listed()["motor_claim"] == ("folder", served[:8], 0)
    revised = approved(session, REVISED)
    assert listed()["motor_claim"] == ("folder", served[:8], 1)
    governance.activate(session=session, row=revised, actor=BOB, note="go live")
    assert listed()["motor_claim"] == ("database", revised.version[:8], 1)
    assert listed()["benefit_review"][0] == "folder"
