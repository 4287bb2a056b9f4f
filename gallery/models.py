"""Gallery images and the files behind them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from gallery.params import GenerationParams


class Image(models.Model):
    """One picture in the gallery, with every parameter that made it.

    The file is stored under a name the server makes (never the user's), with two WebP
    thumbnails made once at ingest. Parameters are real columns so that the gallery filters and
    sorts on them; whatever else a generator recorded lives in ``extra``. ``origin_key`` makes
    ingestion idempotent: a worker that stores the results of one job attempt twice, or a demo
    loaded twice, finds the existing row instead of adding another.
    """

    class Source(models.TextChoices):
        GENERATED = "generated", "Generated here"
        UPLOADED = "uploaded", "Uploaded"
        IMPORTED = "imported", "Imported"

    class Rating(models.TextChoices):
        UNRATED = "unrated", "Unrated"
        SAFE = "safe", "Safe"
        SUGGESTIVE = "suggestive", "Suggestive"
        EXPLICIT = "explicit", "Explicit"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images"
    )
    prompt = models.ForeignKey("prompts.Prompt", on_delete=models.PROTECT, related_name="images")
    file = models.FileField(upload_to="images/", max_length=255)
    thumb_small = models.FileField(upload_to="thumbs/", max_length=255)
    thumb_large = models.FileField(upload_to="thumbs/", max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)

    model_name = models.CharField(max_length=200, blank=True, default="")
    model_hash = models.CharField(max_length=64, blank=True, default="")
    scheduler = models.CharField(max_length=64, blank=True, default="")
    steps = models.PositiveSmallIntegerField(null=True, blank=True)
    cfg_scale = models.FloatField(null=True, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    clip_skip = models.PositiveSmallIntegerField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    source = models.CharField(max_length=16, choices=Source.choices, default=Source.GENERATED)
    rating = models.CharField(max_length=16, choices=Rating.choices, default=Rating.SAFE)
    like_count = models.PositiveIntegerField(default=0)
    parents = models.ManyToManyField("self", symmetrical=False, related_name="remixes", blank=True)
    origin_key = models.CharField(max_length=128, unique=True, null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(F("created").desc(), F("id").desc(), name="image_newest"),
            models.Index(F("like_count").desc(), F("id").desc(), name="image_top"),
            models.Index("owner", F("created").desc(), F("id").desc(), name="image_owner_newest"),
            models.Index("model_name", F("created").desc(), name="image_model_newest"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(width__gt=0) & Q(height__gt=0), name="image_has_size"
            ),
        ]

    def __str__(self) -> str:
        return f"Image {self.pk}"

    @property
    def aspect(self) -> str:
        """``portrait``, ``landscape`` or ``square``, as the gallery filter names them."""
        if self.width == self.height:
            return "square"
        return "portrait" if self.height > self.width else "landscape"

    @property
    def params(self) -> GenerationParams:
        """The parameters as one value object (needs ``prompt`` loaded)."""
        return GenerationParams(
            prompt=self.prompt.text,
            negative_prompt=self.prompt.negative_text,
            model_name=self.model_name,
            model_hash=self.model_hash,
            scheduler=self.scheduler,
            steps=self.steps,
            cfg_scale=self.cfg_scale,
            seed=self.seed,
            width=self.width,
            height=self.height,
            clip_skip=self.clip_skip,
            extra=self.extra,
        )

    @property
    def infotext(self) -> str:
        """The A1111 text of this image's parameters."""
        return self.params.infotext()


class Upload(models.Model):
    """A file someone brought from another tool: a draft until its owner publishes it.

    The stored file is our own lossless re-encoding under a server-made name (never the
    uploader's bytes or file name), so no polyglot or EXIF/GPS block survives even in a draft.
    ``metadata`` holds the API contract's fields as read from the file and then edited by the
    owner; ``raw_chunks`` keeps the text the file carried (size-capped) for a "file info" view.
    ``sha256`` is of the bytes as uploaded: the same file twice is refused. ``phash`` is a
    64-bit perceptual hash (hex) for near-duplicate warnings. A published upload keeps its row,
    pointing at the gallery image, so that re-uploading the same file still finds it.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    source = models.CharField(
        max_length=16, choices=Image.Source.choices, default=Image.Source.UPLOADED
    )
    file = models.FileField(upload_to="uploads/", max_length=255, blank=True)
    preview = models.FileField(upload_to="uploads/", max_length=255, blank=True)
    original_format = models.CharField(max_length=8)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    phash = models.CharField(max_length=16, db_index=True)
    generator = models.CharField(max_length=32, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    raw_chunks = models.JSONField(default=dict, blank=True)
    near_duplicates = models.JSONField(default=list, blank=True)
    rating = models.CharField(
        max_length=16, choices=Image.Rating.choices, default=Image.Rating.SAFE
    )
    image = models.ForeignKey(
        Image, on_delete=models.SET_NULL, null=True, blank=True, related_name="uploads"
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            # The same bytes twice from one person is a mistake (or an import run twice).
            models.UniqueConstraint(fields=["owner", "sha256"], name="upload_once_per_owner"),
        ]

    def __str__(self) -> str:
        return f"Upload {self.pk} ({self.status})"
