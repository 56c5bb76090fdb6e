"""Liveness and readiness probes for process managers and load balancers."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request

from metering.platform.api.problems import ProblemError, problem_type
from metering.platform.db import migrate
from metering.platform.db.session import get_engine
from metering.platform.db.types import utcnow
from metering.platform.jobs.runs import overdue_jobs

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


def _not_ready(detail: str) -> ProblemError:
    return ProblemError(503, "Service Unavailable", detail, type=problem_type("not-ready"))


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated, and the jobs keep succeeding",
    responses={
        503: {
            "description": "Database unreachable, migrations pending, or a job (whichever "
            "process runs it) without a success for three of its intervals"
        }
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
        raise _not_ready("The database is not reachable.") from None
    if not current:
        raise _not_ready("The database schema is not current; run `metering db upgrade`.")
    if overdue:
        raise _not_ready(f"Jobs are overdue: {'; '.join(overdue)}.")
    return {"status": "ready"}
