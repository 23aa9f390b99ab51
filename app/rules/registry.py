"""Where rulesets come from and how they are made ready to evaluate.

The active ruleset of a case type is the version activated for it in the database, read on every
evaluation (one primary-key lookup), so an activation or rollback reaches every worker at its next
request without a restart. A case type no version was ever activated for is governed by the file in
the rulesets folder that declares it, unless that fallback is turned off. Parsed rulesets and
compiled evaluators are cached by version (a content hash), so a version is compiled once.
"""

import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import CasewiseError, NotFound, field_problem
from app.models.ruleset_version import RulesetActivation
from app.rules.compiler import compile_ruleset
from app.rules.evaluation import Evaluator
from app.rules.model import Ruleset
from app.rules.validator import Problem, RulesetInvalid, load_ruleset_file
from app.rules.versions import recorded_ruleset

TESTS_SUFFIX = ".tests.yaml"


class RulesetUnavailable(CasewiseError):
    """The configured rulesets cannot be loaded: a deployment problem, not the caller's."""

    status_code = 503
    code = "ruleset_unavailable"

_CACHE_SIZE = 32
_cache: OrderedDict[str, Evaluator] = OrderedDict()
_cache_lock = threading.Lock()


def ruleset_files(paths: Iterable[Path]) -> list[Path]:
    """The ruleset files among `paths` (folders are searched; test suites are not rulesets), sorted."""
    found: set[Path] = set()
    for path in paths:
        candidates = path.glob("*.yaml") if path.is_dir() else [path]
        found.update(p for p in candidates if not p.name.endswith(TESTS_SUFFIX))
    return sorted(found)


def evaluator_for(ruleset: Ruleset) -> Evaluator:
    """A ready evaluator for the ruleset, compiled once per version and kept while recently used."""
    with _cache_lock:
        evaluator = _cache.get(ruleset.version)
        if evaluator is not None:
            _cache.move_to_end(ruleset.version)
            return evaluator
    evaluator = Evaluator(compile_ruleset(ruleset))
    with _cache_lock:
        evaluator = _cache.setdefault(ruleset.version, evaluator)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return evaluator


class RulesetRegistry:
    """The ruleset governing each case type: the activated version, else the folder's file."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = FolderRegistry(folder) if folder is not None else None
        self._lock = threading.Lock()
        self._parsed: OrderedDict[str, Ruleset] = OrderedDict()

    @classmethod
    def for_settings(cls, settings: Settings) -> "RulesetRegistry":
        """The registry the settings describe: with the folder fallback unless it is turned off."""
        return cls(settings.rulesets_dir if settings.rulesets_folder_fallback else None)

    def active(self, *, session: Session, case_type: str) -> Ruleset:
        """The ruleset governing `case_type`; NotFound when none does."""
        return _governing(self.find(session=session, case_type=case_type), case_type)

    def find(self, *, session: Session, case_type: str) -> Ruleset | None:
        """The ruleset governing `case_type` as `session` sees the database, or None when none does."""
        version = session.scalar(select(RulesetActivation.version).where(RulesetActivation.case_type == case_type))
        if version is not None:
            return self.version(session=session, version=version)
        return self.folder.find(case_type) if self.folder is not None else None

    def version(self, *, session: Session, version: str) -> Ruleset:
        """A stored version, parsed once and kept while recently used."""
        with self._lock:
            ruleset = self._parsed.get(version)
            if ruleset is not None:
                self._parsed.move_to_end(version)
                return ruleset
        ruleset = recorded_ruleset(session=session, version=version)
        with self._lock:
            self._parsed[version] = ruleset
            while len(self._parsed) > _CACHE_SIZE:
                self._parsed.popitem(last=False)
        return ruleset

    def governed(self, *, session: Session) -> dict[str, str]:
        """Each governed case type and where its ruleset comes from: `database` or `folder`. Raises
        RulesetUnavailable when the folder does not validate."""
        activated = dict.fromkeys(session.scalars(select(RulesetActivation.case_type)), "database")
        from_folder = dict.fromkeys(self.folder.case_types(), "folder") if self.folder is not None else {}
        return dict(sorted({**from_folder, **activated}.items()))


class FolderRegistry:
    """The rulesets of one folder, one per case type, re-read when a file changes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._stamp: tuple = ()
        self._by_case_type: dict[str, Ruleset] = {}

    def active(self, case_type: str) -> Ruleset:
        """The ruleset governing `case_type`; NotFound when none does."""
        return _governing(self.find(case_type), case_type)

    def find(self, case_type: str) -> Ruleset | None:
        """The ruleset governing `case_type`, or None when none does."""
        return self._current().get(case_type)

    def case_types(self) -> list[str]:
        """The case types with an active ruleset; raises RulesetUnavailable when the folder does not validate."""
        return sorted(self._current())

    def _current(self) -> dict[str, Ruleset]:
        files = ruleset_files([self.folder]) if self.folder.is_dir() else []
        stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        with self._lock:
            if stamp != self._stamp:
                self._by_case_type = _load_all(files)
                self._stamp = stamp
            return self._by_case_type


def _governing(ruleset: Ruleset | None, case_type: str) -> Ruleset:
    if ruleset is None:
        raise NotFound(f"no active ruleset for case type {case_type!r}",
                       detail=[field_problem("case_type", f"no ruleset governs {case_type!r}", "not_found")])
    return ruleset


def _load_all(files: list[Path]) -> dict[str, Ruleset]:
    by_case_type: dict[str, Ruleset] = {}
    problems: list[Problem] = []
    for path in files:
        try:
            ruleset = load_ruleset_file(path)
        except RulesetInvalid as exc:
            problems += exc.problems
            continue
        if ruleset.case_type in by_case_type:
            problems.append(Problem(str(path), 1, None, f"case type {ruleset.case_type!r} is governed by two rulesets"))
        by_case_type[ruleset.case_type] = ruleset
    if problems:
        raise RulesetUnavailable(f"the rulesets folder does not validate: {problems[0]}",
                                 detail=[{"field": p.source, "problem": str(p), "type": "ruleset_problem"}
                                         for p in problems])
    return by_case_type
