"""Database tables (SQLAlchemy ORM). Importing this package registers every table on Base.metadata."""

from app.models.api_key import ApiKey
from app.models.base import Base
from app.models.case import Case, CaseEvent
from app.models.ranker_model import ModelAlias, ModelVersion
from app.models.suggestion import Suggestion

__all__ = ["ApiKey", "Base", "Case", "CaseEvent", "ModelAlias", "ModelVersion", "Suggestion"]
