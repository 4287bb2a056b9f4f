"""/metrics tells an operator how deep the queue is, how long jobs take and how fast search is."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from generation.models import GenerationJob

pytestmark = pytest.mark.django_db


def _value(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    assert match, f"{sample} not in the metrics"
    return float(match.group(1))


def test_it_reports_queue_depth_and_the_latency_of_recent_jobs(client, alice, make_job):
    now = timezone.now()
    make_job(status="queued")
    make_job(status="queued")
    make_job(status="running", started=now)
    for seconds in (2, 4, 6):
        job = make_job(
            status="succeeded",
            started=now - timedelta(seconds=seconds),
            finished=now,
            timings={"render": seconds * 0.5},
        )
        GenerationJob.objects.filter(id=job.id).update(created=now - timedelta(seconds=seconds + 1))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert _value(text, 'atelier_jobs{status="queued"}') == 2
    assert _value(text, 'atelier_jobs{status="running"}') == 1
    assert _value(text, 'atelier_job_run_seconds{quantile="0.5"}') == pytest.approx(4, abs=0.01)
    assert _value(text, 'atelier_job_wait_seconds{quantile="0.5"}') == pytest.approx(1, abs=0.01)
    # 4 s * 0.5 of rendering over 10 steps: 0.2 s a step.
    assert _value(text, 'atelier_job_step_seconds{quantile="0.5"}') == pytest.approx(0.2)
    assert _value(text, "atelier_queue_oldest_job_seconds") >= 0


def test_search_latency_is_counted_by_route(client):
    before = client.get("/metrics").content.decode()
    sample = 'atelier_http_request_seconds_count{method="GET",route="api/search/",status="4xx"}'
    start = _value(before, sample) if sample in before else 0
    client.get("/api/search/?q=" + "x" * 10_000)  # too long: a 400, still timed
    assert _value(client.get("/metrics").content.decode(), sample) == start + 1


def test_a_configured_token_is_required(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert ok.status_code == 200
