"""Gallery images, the files behind them, and the social layer around them (likes,
collections, follows, profiles, reports and the moderation log)."""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from gallery.params import GenerationParams

# Trending ages are counted from here, so that stored scores stay small numbers.
TRENDING_EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def trending_score(*, like_count: int, created: dt.datetime, half_life_hours: float) -> float:
    """Hacker-News-style "likes decayed by age", as a key that never needs recomputing.

    HN divides votes by a power of age, so the order of two items changes as time passes and
    every score must be recomputed to sort. With exponential decay, likes x 2^(-age/half-life),
    the "now" term is the same for every image and drops out of the comparison: the logarithm
    log2(1 + likes) + (created - epoch)/half-life sorts exactly like the decayed score at any
    moment. So it is stored in `Image.hot`, indexed, and changes only when likes change.
    """
    age_units = (created - TRENDING_EPOCH).total_seconds() / (half_life_hours * 3600.0)
    return math.log2(1 + like_count) + age_units


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
    # Denormalised from `Like`, kept in step by `gallery.social.services.like_create/_delete`.
    like_count = models.PositiveIntegerField(default=0)
    # The trending key: log2(1 + likes) + age in half-lives (see `trending_score`). Stored and
    # indexed because exponential decay keeps the order of two images fixed as time passes.
    hot = models.FloatField(default=0.0)
    # Hidden pending review once enough people report it; its owner and staff still see it.
    hidden = models.BooleanField(default=False)
    # How many images this one was made from have since been deleted ("source deleted").
    deleted_parents = models.PositiveSmallIntegerField(default=0)
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
            models.Index(F("hot").desc(), F("id").desc(), name="image_trending"),
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


class Like(models.Model):
    """One person liking one image, at most once (the unique constraint is the guarantee)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likes"
    )
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="likes")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "image"], name="like_once"),
        ]
        indexes = [models.Index("image", name="like_image")]

    def __str__(self) -> str:
        return f"{self.user_id} likes {self.image_id}"


class Collection(models.Model):
    """A named board of images (Pinterest, Civitai). Private ones exist for their owner only."""

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(max_length=2000, blank=True, default="")
    visibility = models.CharField(
        max_length=8, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    images = models.ManyToManyField(Image, through="CollectionItem", related_name="collections")
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index("owner", F("created").desc(), name="collection_owner_newest")]

    def __str__(self) -> str:
        return self.name


class CollectionItem(models.Model):
    """An image in a collection; the first ones added make its cover."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="collection_items")
    added = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added", "id"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "image"], name="collection_item_once"),
        ]

    def __str__(self) -> str:
        return f"{self.image_id} in {self.collection_id}"


class Follow(models.Model):
    """``follower`` sees ``followee``'s new images in their Following feed."""

    follower = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following"
    )
    followee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="followers"
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_once"),
            models.CheckConstraint(condition=~Q(follower=F("followee")), name="follow_not_self"),
        ]
        indexes = [models.Index("followee", name="follow_followee")]

    def __str__(self) -> str:
        return f"{self.follower_id} follows {self.followee_id}"


class Profile(models.Model):
    """What a person shows of themselves, and what they want to see.

    A user without a row has the defaults (`gallery.social.selectors.profile_of` reads them).
    ``mature``: whether suggestive, explicit and unrated images are shown, and blurred or not;
    accounts younger than ``NSFW_MIN_ACCOUNT_AGE_HOURS`` see safe images only, whatever it says.
    """

    class Mature(models.TextChoices):
        HIDE = "hide", "Safe images only"
        BLUR = "blur", "Show suggestive and explicit images, blurred until clicked"
        SHOW = "show", "Show suggestive and explicit images"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="profile"
    )
    bio = models.TextField(max_length=1000, blank=True, default="")
    links = models.JSONField(default=list, blank=True)
    avatar = models.FileField(upload_to="avatars/", max_length=255, blank=True)
    mature = models.CharField(max_length=8, choices=Mature.choices, default=Mature.HIDE)

    def __str__(self) -> str:
        return f"Profile of {self.user_id}"


class Report(models.Model):
    """Someone telling staff an image breaks the rules. Reporters see only their own reports.

    Open reports from ``REPORT_HIDE_THRESHOLD`` different people hide the image until a
    moderator restores (which closes them) or removes it.
    """

    class Reason(models.TextChoices):
        MISRATED = "misrated", "Wrong NSFW rating"
        SPAM = "spam", "Spam"
        ILLEGAL = "illegal", "Illegal content"
        HARASSMENT = "harassment", "Harassment or hate"
        STOLEN = "stolen", "Someone else's work"
        OTHER = "other", "Something else"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports"
    )
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(max_length=1000, blank=True, default="")
    open = models.BooleanField(default=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["image", "reporter"], name="report_once"),
        ]
        indexes = [models.Index("image", "open", name="report_image_open")]

    def __str__(self) -> str:
        return f"Report {self.pk} on {self.image_id}"


class ModerationAction(models.Model):
    """The log: every hide, restore, removal and rating change, by whom (None: automatic)."""

    class Action(models.TextChoices):
        HIDE = "hide", "Hidden after reports"
        RESTORE = "restore", "Restored"
        REMOVE = "remove", "Removed"
        RATE = "rate", "Rating changed"

    image = models.ForeignKey(
        Image, on_delete=models.SET_NULL, null=True, blank=True, related_name="moderation_log"
    )
    image_ref = models.PositiveBigIntegerField(help_text="The image id, kept after removal.")
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=8, choices=Action.choices)
    detail = models.CharField(max_length=500, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.image_ref}"


class RateLimitCounter(models.Model):
    """Attempts in one fixed window for one key (``login:ip:1.2.3.4``), in the database so that
    every gunicorn worker and machine shares the count (`gallery.social.ratelimit`)."""

    key = models.CharField(max_length=200)
    window = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window"], name="ratelimit_key_window"),
        ]
        indexes = [models.Index("window", name="ratelimit_window")]

    def __str__(self) -> str:
        return f"{self.key}@{self.window}: {self.count}"
