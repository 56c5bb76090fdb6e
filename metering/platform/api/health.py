"""Liveness and readiness probes for process managers and load balancers."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request

from metering.platform.api.problems import ProblemError, problem_type
from metering.platform.db import migrate
from metering.platform.db.session import get_engine

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


def _not_ready(detail: str) -> ProblemError:
    return ProblemError(503, "Service Unavailable", detail, type=problem_type("not-ready"))


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated",
    responses={503: {"description": "Database unreachable or migrations pending"}},
)
def readyz(request: Request) -> dict[str, str]:
    engine = get_engine(request)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        current = migrate.is_current(engine)
    except sa.exc.SQLAlchemyError as error:
        logger.warning("readiness check failed: %s", error)
        raise _not_ready("The database is not reachable.") from None
    if not current:
        raise _not_ready("The database schema is not current; run `metering db upgrade`.")
    return {"status": "ready"}
