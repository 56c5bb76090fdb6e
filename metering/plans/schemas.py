"""API shapes of plans and their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RuleFileUpload(BaseModel):
    """The JSON form of an upload; `application/yaml` bodies carry the YAML directly."""

    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(description="The rule file's YAML text.")


class PlanOut(BaseModel):
    id: str
    slug: str
    latest_version: int | None
    created_at: datetime


class PlanVersionSummary(BaseModel):
    id: str
    plan_id: str
    version: int
    created_at: datetime


class PlanVersionOut(PlanVersionSummary):
    """One immutable version: the YAML as uploaded and the rules as parsed from it."""

    plan: str = Field(description="The plan's slug.")
    yaml: str
    rules: dict[str, Any] = Field(description="The parsed rule file.")


class RuleErrorOut(BaseModel):
    file: str
    line: int
    column: int
    message: str
