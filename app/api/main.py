"""The FastAPI application factory."""

from fastapi import FastAPI

from app.api.errors import install_error_handlers
from app.api.middleware import BodySizeLimit
from app.api.routes import audit, cases, decisions, evaluation, health, rulesets, suggestions
from app.core.config import Settings, get_settings
from app.db.session import get_engine, session_factory
from app.recommend.service import Recommender


def create_app(settings: Settings | None = None) -> FastAPI:
    """A Casewise API bound to the configured database."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Casewise",
        version="0.1.0",
        summary="Decision support for dynamic case management: compliance rules and next-best actions.",
    )
    app.state.settings = settings
    app.state.session_factory = session_factory(get_engine(settings.database_url))
    app.state.recommender = Recommender.for_settings(settings)
    app.state.rulesets = app.state.recommender.rulesets
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(cases.router)
    app.include_router(evaluation.router)
    app.include_router(suggestions.router)
    app.include_router(decisions.router)
    app.include_router(rulesets.router)
    app.include_router(audit.router)
    return app
