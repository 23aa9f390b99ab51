"""The model registry: artifacts on disk, one database row per version, aliases champion and challenger.

An artifact is `<artifacts>/<case_type>/<version>/model.joblib` beside `metadata.json`. Loading one is
unpickling it, so the registry refuses a file whose sha256 differs from the one recorded when it was
saved, or that was written by another scikit-learn version.
"""

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import sklearn
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import ledger
from app.core.errors import CasewiseError, InvalidInput, NotFound, field_problem
from app.core.hashing import canonical_json
from app.models import ModelAlias, ModelVersion
from app.models.base import utcnow
from app.models.ranker_model import ALIASES

ARTIFACT = "model.joblib"
METADATA = "metadata.json"


class ArtifactRefused(CasewiseError):
    """A model artifact that must not be loaded: tampered with, missing, or from another scikit-learn."""

    status_code = 503
    code = "model_artifact_refused"


@dataclass(frozen=True)
class LoadedModel:
    """A verified, loaded model and its registry entry."""

    case_type: str
    version: str
    estimator: Any
    metadata: Mapping[str, Any]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def register(*, session: Session, artifacts: Path, case_type: str, estimator: Any, metadata: Mapping[str, Any],
             training_data_hash: str, actor: str | None = None) -> ModelVersion:
    """Save the estimator as a new version of the case type's model and record it, in the ledger too (no alias
    moves)."""
    created = utcnow()
    version = created.strftime("%Y%m%dT%H%M%S%fZ")
    folder = artifacts / case_type / version
    folder.mkdir(parents=True, exist_ok=False)
    joblib.dump(estimator, folder / ARTIFACT, compress=3)
    digest = sha256_file(folder / ARTIFACT)
    full = {**metadata, "case_type": case_type, "version": version, "sklearn_version": sklearn.__version__,
            "training_data_hash": training_data_hash, "sha256": digest, "created_at": created.isoformat()}
    (folder / METADATA).write_text(json.dumps(full, indent=2, sort_keys=True, default=str) + "\n")
    row = ModelVersion(case_type=case_type, version=version, path=f"{case_type}/{version}/{ARTIFACT}", sha256=digest,
                       sklearn_version=sklearn.__version__, training_data_hash=training_data_hash,
                       metadata_=json.loads(canonical_json(full)), created_at=created)
    session.add(row)
    session.flush()
    ledger.append(session=session, kind="model.registered", actor=actor or ledger.operator(),
                  subject=f"{case_type}/{version}",
                  content={"case_type": case_type, "version": version, "sha256": digest,
                           "training_data_hash": training_data_hash, "sklearn_version": sklearn.__version__})
    return row


def set_alias(*, session: Session, case_type: str, alias: str, version: str, actor: str | None = None,
              reason: str | None = None, details: Mapping[str, Any] | None = None) -> ModelAlias:
    """Point the case type's alias at a registered version; the move is in the ledger."""
    if alias not in ALIASES:
        raise InvalidInput(f"unknown alias {alias!r}",
                           detail=[field_problem("alias", f"must be one of {', '.join(ALIASES)}", "invalid")])
    row = get_version(session=session, case_type=case_type, version=version)
    entry = session.get(ModelAlias, (case_type, alias))
    previous = aliased(session=session, case_type=case_type, alias=alias)
    if entry is None:
        entry = ModelAlias(case_type=case_type, alias=alias, model_version_id=row.id, updated_at=utcnow())
        session.add(entry)
    else:
        entry.model_version_id, entry.updated_at = row.id, utcnow()
    session.flush()
    ledger.append(session=session, kind="model.alias_moved", actor=actor or ledger.operator(),
                  subject=f"{case_type}/{alias}",
                  content={"case_type": case_type, "alias": alias, "version": version, "reason": reason,
                           "previous": previous.version if previous else None, **(details or {})})
    return entry


def get_version(*, session: Session, case_type: str, version: str) -> ModelVersion:
    row = session.scalars(select(ModelVersion).where(ModelVersion.case_type == case_type,
                                                     ModelVersion.version == version)).one_or_none()
    if row is None:
        raise NotFound(f"no model version {version!r} for case type {case_type!r}",
                       detail=[field_problem("version", "unknown model version", "not_found")])
    return row


def aliased(*, session: Session, case_type: str, alias: str) -> ModelVersion | None:
    """The version the alias points at, or None when the case type has none."""
    return session.scalars(
        select(ModelVersion).join(ModelAlias, ModelAlias.model_version_id == ModelVersion.id)
        .where(ModelAlias.case_type == case_type, ModelAlias.alias == alias)
    ).one_or_none()


class ModelCache:
    """Verified models in memory by (case type, version); an artifact is read and checked once."""

    def __init__(self, artifacts: Path) -> None:
        self.artifacts = artifacts
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], LoadedModel] = {}

    def load(self, row: ModelVersion) -> LoadedModel:
        key = (row.case_type, row.version)
        with self._lock:
            if key in self._models:
                return self._models[key]
        model = load_verified(self.artifacts, row)
        with self._lock:
            return self._models.setdefault(key, model)


def load_verified(artifacts: Path, row: ModelVersion) -> LoadedModel:
    """Unpickle the artifact only if its sha256 and scikit-learn version are the recorded ones."""
    path = artifacts / row.path
    where = f"model {row.case_type}/{row.version}"
    if not path.is_file():
        raise ArtifactRefused(f"{where}: artifact {path} is missing")
    if row.sklearn_version != sklearn.__version__:
        raise ArtifactRefused(f"{where} was written by scikit-learn {row.sklearn_version}; this service runs "
                              f"{sklearn.__version__}: retrain it or serve with that version")
    actual = sha256_file(path)
    if actual != row.sha256:
        raise ArtifactRefused(f"{where}: artifact {path} has sha256 {actual[:16]}..., the registry recorded "
                              f"{row.sha256[:16]}...; it was altered after it was registered and will not be loaded")
    return LoadedModel(row.case_type, row.version, joblib.load(path), row.metadata_)
