"""Service settings, read from `METERING_*` environment variables (and plain `DATABASE_URL`)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///var/metering.db"


class Settings(BaseSettings):
    """Limits and connections; one instance per process (see `get_settings`)."""

    model_config = SettingsConfigDict(env_prefix="METERING_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("METERING_DATABASE_URL", "DATABASE_URL", "database_url"),
    )
    max_body_bytes: int = 5 * 1024 * 1024
    max_batch_events: int = 1000
    max_properties_bytes: int = 32 * 1024
    future_tolerance: timedelta = timedelta(minutes=5)
    webhook_tolerance: timedelta = timedelta(minutes=5)
    secret_grace_period: timedelta = timedelta(hours=24)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
