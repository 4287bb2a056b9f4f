"""Structured logs: every line a worker writes while it runs a job carries that job's id.

Celery's ``task_prerun`` signal puts the task's ``job_id`` argument (every job task takes one)
into a context variable, and a logging filter copies it onto each record, so an operator can
``grep job=123`` (plain format) or filter ``"job_id": 123`` (JSON, ``LOG_FORMAT=json``) across
the web, beat and every worker machine without our code passing the id to each logger call.
"""

from __future__ import annotations

import contextvars
import json
import logging
from typing import Any

from celery import signals

_job_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("job_id", default=None)
_task_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_id", default=None)


class JobContextFilter(logging.Filter):
    """Add ``job_id`` and ``task_id`` (or ``-``) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = _job_id.get() or "-"
        record.task_id = _task_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers (Loki, Elasticsearch, CloudWatch)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("job_id", "task_id"):
            value = getattr(record, key, "-")
            if value != "-":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _job_id_of(args: tuple | None, kwargs: dict | None) -> int | None:
    if kwargs and isinstance(kwargs.get("job_id"), int):
        return kwargs["job_id"]
    if args and isinstance(args[0], int):
        return args[0]
    return None


_tokens: dict[str, tuple[contextvars.Token, contextvars.Token]] = {}


@signals.task_prerun.connect
def _enter_task(task_id: str, task: Any, args: tuple, kwargs: dict, **_: Any) -> None:
    job_id = _job_id_of(args, kwargs) if task.name.startswith("generation.") else None
    _tokens[task_id] = (_job_id.set(job_id), _task_id.set(task_id))


@signals.task_postrun.connect
def _leave_task(task_id: str, **_: Any) -> None:
    tokens = _tokens.pop(task_id, None)
    if tokens:
        _job_id.reset(tokens[0])
        _task_id.reset(tokens[1])
