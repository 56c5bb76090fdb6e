"""Request-scoped access to what `create_app` stored on the application."""

from __future__ import annotations

from fastapi import Request

from metering.platform.settings import Settings


def app_settings(request: Request) -> Settings:
    """The settings the app was created with (tests pass their own to `create_app`)."""
    settings: Settings = request.app.state.settings
    return settings
