"""The reconciler: what the broker cannot guarantee, the job table repairs."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from generation.models import GenerationJob

if TYPE_CHECKING:
    pass

from generation.services.submit import Status, job_publish

logger = logging.getLogger(__name__)

# --- Reconciling ------------------------------------------------------------------------------


def jobs_reconcile() -> dict[str, int]:
    """Repair what the broker cannot guarantee; run every few seconds by celery beat.

    - running jobs whose lease or deadline passed (their worker died): queued again, or failed
      once they have used ``max_attempts``;
    - queued jobs whose message was never sent or was lost: published again.
    """
    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "republished": 0}
    stuck = GenerationJob.objects.filter(status=Status.RUNNING).filter(
        Q(lease_until__lt=now) | Q(deadline__lt=now)
    )
    for job_id, attempts, max_attempts in stuck.values_list("id", "attempts", "max_attempts"):
        still_stuck = GenerationJob.objects.filter(
            id=job_id, status=Status.RUNNING, attempts=attempts
        )
        if attempts >= max_attempts:
            if still_stuck.update(
                status=Status.FAILED,
                finished=now,
                lease_until=None,
                error=f"The job stopped its worker {attempts} times; it will not be retried.",
            ):
                counts["failed"] += 1
                logger.warning("job %s: failed after %s attempts", job_id, attempts)
        elif still_stuck.update(status=Status.QUEUED, lease_until=None, enqueued_at=None):
            counts["requeued"] += 1
            logger.warning("job %s: attempt %s lost its worker, queued again", job_id, attempts)
            job_publish(job_id=job_id)
    stale = now - timedelta(seconds=settings.GENERATION_REPUBLISH_SECONDS)
    lost = GenerationJob.objects.filter(status=Status.QUEUED).filter(
        Q(enqueued_at__isnull=True, created__lt=stale) | Q(enqueued_at__lt=stale)
    )
    for job_id in lost.values_list("id", flat=True):
        if job_publish(job_id=job_id):
            counts["republished"] += 1
    return counts
