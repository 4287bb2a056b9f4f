"""Generation jobs: the database row is the truth about every job, not the broker."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class GenerationJob(models.Model):
    """One request to make images, and everything that happened to it.

    State machine::

        queued ──claim──> running ──> succeeded
          │  ▲               │ ├────> failed      (bad input, pipeline error, max_attempts)
          │  └──lease ran out┘ └────> cancelled   (the user, checked at every step)
          └──────────────────────────> cancelled

    A worker claims a queued job with a conditional UPDATE that bumps ``attempts`` and sets
    ``lease_until``; a heartbeat renews the lease while it runs. Results are written only
    ``WHERE attempts = <mine> AND status = running``, so a worker that lost its lease (killed,
    partitioned) can never add a second set of images. The reconciler queues again a running
    job whose lease ran out (or fails it after ``max_attempts``), and publishes again a queued
    job whose broker message was lost.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Mode(models.TextChoices):
        TXT2IMG = "txt2img", "Text to image"
        REGENERATE = "regenerate", "Regenerate"
        VARY = "vary", "Vary"
        UPSCALE = "upscale", "Upscale 2x"
        INPAINT = "inpaint", "Inpaint"
        OUTPAINT = "outpaint", "Outpaint"

    CANVAS_MODES = (Mode.INPAINT, Mode.OUTPAINT)
    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generation_jobs"
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.TXT2IMG)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)

    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True, default="")
    model_name = models.CharField(max_length=200)
    scheduler = models.CharField(max_length=64)
    steps = models.PositiveSmallIntegerField()
    cfg_scale = models.FloatField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    seed = models.BigIntegerField(help_text="The first image's seed; image i uses seed + i.")
    batch_size = models.PositiveSmallIntegerField(default=1)
    strength = models.FloatField(null=True, blank=True)
    clip_skip = models.PositiveSmallIntegerField(null=True, blank=True)
    rating = models.CharField(max_length=16, default="safe")
    source_image = models.ForeignKey(
        "gallery.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Canvas jobs (inpaint, outpaint): the mask is canvas-sized (the source grown by ``extend``),
    # white where the model paints; it stays after the job, shown as the result's edited region.
    mask = models.FileField(upload_to="masks/", max_length=255, blank=True)
    extend = models.JSONField(
        default=dict, blank=True, help_text='Pixels added per side: {"left", "top", ...}.'
    )
    mask_blur = models.PositiveSmallIntegerField(null=True, blank=True)
    only_masked = models.BooleanField(
        default=False, help_text="Inpaint a crop around the mask at the model's resolution."
    )
    notes = models.JSONField(
        default=list, blank=True, help_text="What the user should know, e.g. a resized mask."
    )
    batch = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text="Shared by the jobs of one wildcard expansion, shown together as a grid.",
    )
    remix = models.JSONField(
        default=dict,
        blank=True,
        help_text="A prompt-tools remix: the source image ids, the strategy, and the source "
        "of each phrase. Its images get every source as a parent.",
    )

    progress = models.FloatField(default=0.0)
    preview = models.TextField(blank=True, default="", help_text="A small data: URL.")
    error = models.TextField(blank=True, default="")
    timings = models.JSONField(
        default=dict, blank=True, help_text="Seconds spent loading, rendering and storing."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    lease_until = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    request_hash = models.CharField(max_length=64, blank=True, default="")
    images = models.ManyToManyField("gallery.Image", blank=True, related_name="generation_jobs")

    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["status", "lease_until"], name="job_status_lease"),
            models.Index(fields=["owner", "status"], name="job_owner_status"),
            models.Index(fields=["owner", "-created"], name="job_owner_newest"),
            models.Index(fields=["owner", "batch"], name="job_owner_batch"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="job_idempotency_key_per_owner",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="job_progress_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED
