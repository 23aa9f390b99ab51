"""Dependency aliases every router uses: the session, the settings, the caller and their role."""

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.auth.keys import Principal, authenticate
from app.auth.roles import Role
from app.core.config import Settings
from app.core.errors import Forbidden, Unauthenticated


def get_session(request: Request) -> Iterator[Session]:
    """A session for this request: routers commit at the end of a successful request; a failed one is
    rolled back, so it leaves nothing half-written."""
    with request.app.state.session_factory() as session:
        try:
            yield session
        except Exception:
            session.rollback()
            raise


# Dependencies that do no I/O are async: a sync one costs two thread-pool hops per request.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="an API key from `casewise keys create`")


def get_principal(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller behind the bearer key; 401 when the key is missing, unknown or revoked."""
    if credentials is None:
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
    principal = authenticate(session=session, key=credentials.credentials)
    if principal is None:
        raise Unauthenticated("unknown or revoked API key")
    return principal


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting the given roles (and admin); 403 for any other role."""
    allowed = {*roles, Role.ADMIN}

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(role.value for role in allowed))
            raise Forbidden(f"role {principal.role.value!r} may not do this; allowed: {names}")
        return principal

    return check


CaseWriter = Annotated[Principal, Depends(require_roles(Role.CLIENT))]
CaseReader = Annotated[Principal, Depends(require_roles(Role.CLIENT, Role.OFFICER, Role.SCIENTIST, Role.AUDITOR))]
CaseEvaluator = Annotated[Principal, Depends(require_roles(Role.CLIENT, Role.OFFICER))]
Auditor = Annotated[Principal, Depends(require_roles(Role.AUDITOR))]
RulesetWriter = Annotated[Principal, Depends(require_roles(Role.OFFICER))]
RulesetReader = Annotated[Principal, Depends(require_roles(Role.OFFICER, Role.AUDITOR, Role.SCIENTIST))]
SuggestionReader = Annotated[Principal, Depends(require_roles(Role.CLIENT, Role.SCIENTIST, Role.AUDITOR))]
