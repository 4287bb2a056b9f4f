"""Every log line written while a job task runs names the job."""

from __future__ import annotations

import io
import json
import logging

import pytest

from config.logs import JobContextFilter, JsonFormatter


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(JobContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.mark.django_db
def test_a_worker_line_carries_the_job_id_and_lines_after_it_do_not(json_log):
    # A job that is not queued: the task logs that it has nothing to do, and returns.
    from generation.tasks import run_job

    run_job.apply(args=[987654])
    logging.getLogger("atelier.test").info("after the task")
    lines = json_log()
    during = [line for line in lines if "nothing to do" in line["message"]]
    assert during and during[0]["job_id"] == 987654
    assert during[0]["task_id"]
    assert "job_id" not in lines[-1] and lines[-1]["message"] == "after the task"


def test_the_plain_format_names_the_job_too(settings):
    assert "job=%(job_id)s" in settings.LOGGING["formatters"]["plain"]["format"]
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["job"]
