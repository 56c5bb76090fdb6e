"""Liveness and readiness probes for process managers and load balancers."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request

from metering.platform.api import problems
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db import migrate
from metering.platform.db.session import get_engine
from metering.platform.db.types import utcnow
from metering.platform.jobs.runs import overdue_jobs

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


@router.get(
    "/healthz",
    summary="The process is up",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated, and the jobs keep succeeding",
    description="503 when the database is unreachable, migrations are pending, or a job "
    "(whichever process runs it) has had no success for three of its intervals.",
    responses={
        200: {"content": {"application/json": {"example": {"status": "ready"}}}},
        **problem_responses(problems.NOT_READY),
    },
)
def readyz(request: Request) -> dict[str, str]:
    """Ready when the database answers with a current schema and no job is overdue; a 503
    names each overdue job and its last error, so billing that stopped is never silent."""
    engine = get_engine(request)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        current = migrate.is_current(engine)
        with engine.connect() as connection:
            overdue = overdue_jobs(connection, utcnow()) if current else []
    except sa.exc.SQLAlchemyError as error:
        logger.warning("readiness check failed: %s", error)
        raise problems.NOT_READY.error("The database is not reachable.") from None
    if not current:
        raise problems.NOT_READY.error(
            "The database schema is not current; run `metering db upgrade`."
        )
    if overdue:
        raise problems.NOT_READY.error(f"Jobs are overdue: {'; '.join(overdue)}.")
    return {"status": "ready"}
