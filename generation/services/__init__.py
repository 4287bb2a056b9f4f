"""Generation jobs: submit, claim, run, complete, cancel, reconcile.

The job row is the truth (see `GenerationJob`'s state machine). `submit` validates and queues,
`run` is what a worker does with a job, `reconcile` repairs what the broker cannot guarantee.
"""

from generation.services.reconcile import jobs_reconcile
from generation.services.run import (
    JobProgress,
    job_cancel,
    job_claim,
    job_complete,
    job_execute,
    job_fail,
    model_hash,
)
from generation.services.submit import (
    DEFAULT_CFG,
    DEFAULT_SCHEDULER,
    MAX_BATCH,
    MAX_CFG,
    MAX_SEED,
    MAX_STEPS,
    RATINGS,
    IdempotencyConflict,
    JobInputError,
    JobLimitExceeded,
    JobNotCancellable,
    JobRequest,
    SourceNotFound,
    job_create,
    job_publish,
)

__all__ = [
    "DEFAULT_CFG",
    "DEFAULT_SCHEDULER",
    "MAX_BATCH",
    "MAX_CFG",
    "MAX_SEED",
    "MAX_STEPS",
    "RATINGS",
    "IdempotencyConflict",
    "JobInputError",
    "JobLimitExceeded",
    "JobNotCancellable",
    "JobProgress",
    "JobRequest",
    "SourceNotFound",
    "job_cancel",
    "job_claim",
    "job_complete",
    "job_create",
    "job_execute",
    "job_fail",
    "job_publish",
    "jobs_reconcile",
    "model_hash",
]
