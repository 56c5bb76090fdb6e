"""Service settings, read from `METERING_*` environment variables (and plain `DATABASE_URL`)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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

    # Stripe: tests point `stripe_api_base` at a local fake; no key: no Stripe sync (the
    # invoices of Stripe customers wait) and new customers default to the manual provider.
    stripe_api_key: str | None = None
    stripe_api_base: str = "https://api.stripe.com"
    stripe_webhook_secret: str | None = None
    stripe_max_network_retries: int = 0
    stripe_timeout_seconds: float = 30.0
    # A failing sync step is retried with exponential backoff from this delay, up to the cap.
    sync_retry_base: timedelta = timedelta(seconds=30)
    sync_retry_cap: timedelta = timedelta(hours=1)
    sync_lease: timedelta = timedelta(minutes=5)

    # Jobs run in `metering serve` (unless --no-jobs) and in `metering worker`.
    jobs_close_interval: timedelta = timedelta(minutes=5)
    jobs_sync_interval: timedelta = timedelta(seconds=30)
    # Credit grants past their expiry give up what is left (issue 14).
    jobs_expiry_interval: timedelta = timedelta(minutes=5)

    # Outbound webhooks and alerts (issue 6): a delivery's POST times out quickly; failures
    # are retried with exponential backoff (base doubling up to the cap, with jitter) until
    # the window has passed since the event; a claimed batch is leased to one worker.
    webhook_timeout: timedelta = timedelta(seconds=10)
    webhook_retry_base: timedelta = timedelta(seconds=30)
    webhook_retry_cap: timedelta = timedelta(hours=1)
    webhook_retry_window: timedelta = timedelta(hours=24)
    webhook_lease: timedelta = timedelta(minutes=5)
    jobs_webhooks_interval: timedelta = timedelta(seconds=5)
    # Webhooks go to https URLs on public addresses only. For development the operator may
    # allow hosts here (comma-separated names, addresses or networks such as 10.0.0.0/8),
    # which also may use plain http. Empty by default: nothing internal is reachable.
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    jobs_alerts_interval: timedelta = timedelta(minutes=1)

    # Customer portal (issue 5): cookie signing key (None: one is generated once and kept in
    # the database, so every `serve --workers` process agrees), branding defaults, lifetimes.
    portal_secret_key: str | None = None
    portal_vendor_name: str | None = None
    portal_brand_color: str = "#4f46e5"
    # Where portal links point (e.g. https://billing.example.com); None: the API's own address.
    portal_base_url: str | None = None
    portal_link_lifetime: timedelta = timedelta(minutes=15)
    portal_session_lifetime: timedelta = timedelta(hours=12)

    # The event log (issue 18): where vendors with `eventlog` enabled also write every
    # accepted event: `chdb:<folder>` (in process) or `http://host:8123/?database=db`.
    # None: no vendor may enable it; the default path needs no ClickHouse.
    eventlog_url: str | None = None

    # Operating it (issue 13): how `metering serve` and `metering worker` write their log
    # lines (one JSON object a line, or text for a terminal), and where a worker serves its
    # own Prometheus metrics (no port: not served; see README, Monitoring).
    log_format: Literal["json", "text"] = "json"
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int | None = None
    # How long `serve --workers N` waits for a worker to answer its supervisor's health check
    # before killing it (uvicorn's default, 5 s, kills workers that are merely slow on a busy
    # host, again and again).
    serve_worker_healthcheck_seconds: int = Field(default=30, ge=1)

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
