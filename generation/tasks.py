"""Celery tasks: thin, id-taking, idempotent. The work is in `generation.services`."""

from __future__ import annotations

from celery import shared_task

from generation import services


@shared_task(name="generation.run_job", ignore_result=True)
def run_job(job_id: int) -> None:
    """Run one generation job (a duplicate or stale message is a no-op)."""
    services.job_execute(job_id=job_id)


@shared_task(name="generation.reconcile_jobs", ignore_result=True)
def reconcile_jobs() -> dict[str, int]:
    """Requeue jobs of dead workers and publish jobs whose message was lost."""
    return services.jobs_reconcile()
