"""Prometheus metrics at ``/metrics`` (prometheus-client).

Two sources, chosen for where the truth is:

- Job metrics (queue depth, wait, run and per-step time) are read from the job table when
  Prometheus scrapes. GPU workers run on other machines, often behind NAT and restarted at
  will; the job rows already hold every timestamp and timing, so one scrape of any web process
  gives the whole fleet's picture, and nothing is lost when a worker dies.
- Request latency (search, image pages, the API) is measured in the web process by a
  middleware, one histogram per route pattern (bounded label values, never raw paths). Under
  gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR`` (``make run`` does) so that
  the scrape adds up every worker's counts; ``config/gunicorn.py`` clears it at start.

``METRICS_TOKEN``, when set, must come as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import REGISTRY, Collector

REQUEST_SECONDS = Histogram(
    "atelier_http_request_seconds",
    "Time to answer a request, by route pattern (search is route api/search/).",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RECENT_JOBS_LIMIT = 5000
QUANTILES = (0.5, 0.95, 0.99)


def _quantile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[index]


class JobsCollector(Collector):
    """Queue depth and job latencies, computed from the job table at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily | SummaryMetricFamily]:
        from django.db.models import Count, Min

        from generation.models import GenerationJob

        now = timezone.now()
        jobs = GenerationJob.objects
        by_status = dict(jobs.values_list("status").annotate(n=Count("id")).order_by())
        gauge = GaugeMetricFamily("atelier_jobs", "Generation jobs by status.", labels=["status"])
        for status in GenerationJob.Status.values:
            gauge.add_metric([status], by_status.get(status, 0))
        yield gauge
        oldest = jobs.filter(status=GenerationJob.Status.QUEUED).aggregate(t=Min("created"))["t"]
        yield GaugeMetricFamily(
            "atelier_queue_oldest_job_seconds",
            "Age of the oldest queued job (0 when none waits).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )
        window = now - timedelta(seconds=settings.METRICS_WINDOW_SECONDS)
        recent = list(
            jobs.filter(status=GenerationJob.Status.SUCCEEDED, finished__gte=window)
            .order_by("-finished")
            .values_list("created", "started", "finished", "timings", "steps", "batch_size")[
                :RECENT_JOBS_LIMIT
            ]
        )
        series: dict[str, list[float]] = {"wait": [], "run": [], "step": []}
        for created, started, finished, timings, steps, batch in recent:
            if started:
                series["wait"].append((started - created).total_seconds())
                series["run"].append((finished - started).total_seconds())
            render = (timings or {}).get("render")
            if render and steps:
                series["step"].append(render / steps / max(batch, 1))
        helps = {
            "wait": "Seconds from submit to a worker starting the job",
            "run": "Seconds from start to stored results",
            "step": "Seconds per denoising step per image",
        }
        for name, values in series.items():
            values.sort()
            summary = SummaryMetricFamily(
                f"atelier_job_{name}_seconds",
                f"{helps[name]}, over jobs that succeeded in the last "
                f"{settings.METRICS_WINDOW_SECONDS} s.",
                labels=["quantile"] if values else None,
                count_value=None if values else 0,
                sum_value=None if values else 0.0,
            )
            if values:
                for q in QUANTILES:
                    summary.add_sample(summary.name, {"quantile": str(q)}, _quantile(values, q))
                summary.add_sample(f"{summary.name}_count", {}, len(values))
                summary.add_sample(f"{summary.name}_sum", {}, sum(values))
            yield summary


def metrics_text() -> bytes:
    """This process's (or, in multiprocess mode, every worker's) metrics, then the job table's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    jobs = CollectorRegistry()
    jobs.register(JobsCollector())
    return generate_latest(processes) + generate_latest(jobs)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format; 401 without the token when ``METRICS_TOKEN`` is set."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not constant_time_compare(given, token):
            return HttpResponse(
                "A bearer token is needed.\n", status=401, content_type="text/plain"
            )
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)


class RequestMetricsMiddleware:
    """Time every request into `REQUEST_SECONDS`, labelled by its URL pattern."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        route = route.removeprefix("^").removesuffix("$")  # router patterns are regexes
        if route != "metrics":
            REQUEST_SECONDS.labels(
                route, request.method, f"{response.status_code // 100}xx"
            ).observe(time.perf_counter() - started)
        return response
