"""The request-scoped database session (FastAPI dependency)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.engine import Engine
from sqlmodel import Session


def get_engine(request: Request) -> Engine:
    """The engine `create_app` stored on `app.state.engine`."""
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request; the endpoint commits, anything uncommitted is rolled back."""
    with Session(get_engine(request), expire_on_commit=False) as session:
        yield session
