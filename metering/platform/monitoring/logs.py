"""Log lines for `metering serve` and `metering worker`: one JSON object a line, or text.

Every line carries the id of the request being handled (`request_id`, None outside a
request), read from a context variable that `requests.RequestContext` sets: it follows the
request into `run_in_threadpool` and sync endpoints (both copy the context into the thread).
A JSON line holds `time` (UTC, ISO 8601), `level`, `logger`, `message`, `request_id`,
`process`, any `extra={...}` fields of the call, and `exception` with the traceback.

`logging_config` is a `logging.config.dictConfig` document: uvicorn applies it in each of
its worker processes, so its own lines (startup, access log, errors) have the same shape.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "text"]

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# An id a client sends is kept when it is this safe: bounded, and nothing that could forge a
# log line or a header (no spaces, quotes, control characters).
_SAFE_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")

_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

# The attributes every LogRecord has; the others are the call's `extra` fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}


def accepted_request_id(value: str | None) -> str | None:
    """The client's `X-Request-Id`, when it is safe to keep."""
    if value is not None and _SAFE_ID.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (a traceback is a string member)."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        document: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
            "process": record.process,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in document:
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def logging_config(log_format: LogFormat, level: str = "INFO") -> dict[str, Any]:
    """Every logger (uvicorn's too) to stderr in `log_format`, with the request id."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"line": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["request_id"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        # uvicorn's loggers write through the root's handler, not handlers of their own.
        # httpx logs every request it sends at INFO: a line per webhook attempt, which
        # logs its own outcome already.
        "loggers": {name: {"handlers": [], "propagate": True} for name in _UVICORN}
        | {"httpx": {"level": "WARNING"}},
    }


@contextmanager
def configured(log_format: LogFormat, level: str = "INFO") -> Iterator[None]:
    """This process logs as `logging_config` says for the block; then as it did before (a
    command run inside another program, a test, leaves its logging as it found it)."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in _UVICORN)]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers]
    logging.config.dictConfig(logging_config(log_format, level))
    try:
        yield
    finally:
        for logger, handlers, level_number, propagate, disabled in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level_number)
            logger.propagate = propagate
            logger.disabled = disabled
