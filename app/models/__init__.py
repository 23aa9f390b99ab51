"""Database tables (SQLAlchemy ORM). Importing this package registers every table on Base.metadata."""

from app.models.api_key import ApiKey
from app.models.audit import AuditEntry
from app.models.base import Base
from app.models.case import Case, CaseEvent
from app.models.decision import Decision
from app.models.ranker_model import ModelAlias, ModelVersion
from app.models.ruleset_version import RulesetActivation, RulesetSimulation, RulesetStatus, RulesetVersion
from app.models.suggestion import Suggestion

__all__ = ["ApiKey", "AuditEntry", "Base", "Case", "CaseEvent", "Decision", "ModelAlias", "ModelVersion",
           "RulesetActivation", "RulesetSimulation", "RulesetStatus", "RulesetVersion", "Suggestion"]
