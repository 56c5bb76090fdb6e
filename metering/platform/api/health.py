"""Liveness and readiness probes for process managers and load balancers."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request

from metering.platform.api import problems
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db import migrate
from metering.platform.db.session import get_engine

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated",
    responses=problem_responses(problems.NOT_READY),
)
def readyz(request: Request) -> dict[str, str]:
    engine = get_engine(request)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        current = migrate.is_current(engine)
    except sa.exc.SQLAlchemyError as error:
        logger.warning("readiness check failed: %s", error)
        raise problems.NOT_READY.error("The database is not reachable.") from None
    if not current:
        raise problems.NOT_READY.error(
            "The database schema is not current; run `metering db upgrade`."
        )
    return {"status": "ready"}
