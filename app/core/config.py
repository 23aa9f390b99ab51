"""Settings, read from the environment with the prefix CASEWISE_ (and from a .env file)."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    """Every tunable of the service; the defaults give a working single-machine set-up."""

    model_config = SettingsConfigDict(env_prefix="CASEWISE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'casewise.db'}",
        description="SQLAlchemy URL; e.g. postgresql+psycopg://user@host:5432/casewise",
    )
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0, description="largest accepted request body")
    max_history_events: int = Field(default=10_000, gt=0, description="most events one case may hold")
    history_page_size: int = Field(default=100, gt=0, le=1_000, description="default history page size")
    rulesets_dir: Path = Field(default=Path("rulesets"), description="folder of rulesets: imported as drafts, "
                                                                    "exported from the active versions")
    rulesets_folder_fallback: bool = Field(
        default=True, description="a case type no version was ever activated for is governed by its file in "
                                  "rulesets_dir; turn off so that only approved, activated versions govern")
    ruleset_min_coverage: float = Field(default=1.0, ge=0, le=1, description="share of a version's rules its "
                                                                            "test suite must fire to pass the gate")
    artifacts_dir: Path = Field(default=Path("artifacts"), description="folder of trained model artifacts")
    exploration_rate: float = Field(default=0.05, ge=0, le=1, description="chance a suggestion rank explores")
    suggestions_shown: int = Field(default=5, gt=0, le=50, description="actions a suggestion shows at most")
    shadow_challenger: bool = Field(default=True, description="rank every suggestion with the challenger too, "
                                                                 "and keep its ranking unshown")
    override_reasons: list[str] = Field(
        default=["customer_request", "new_information", "rule_not_applicable", "suggestion_wrong",
                 "policy_exception", "other"],
        min_length=1, description="reason codes a case worker may give for overriding a suggestion")
    simulation_jobs: int = Field(default=-1, description="joblib workers of an impact simulation (-1: one per core)")
    sqlite_busy_timeout_s: float = Field(default=30.0, gt=0, description="how long a SQLite writer waits")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
