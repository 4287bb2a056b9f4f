"""Generation API: submit, follow, list and cancel jobs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, Throttled, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from generation import services
from generation.models import GenerationJob
from generation.selectors import job_get, jobs_in_batch, jobs_of
from generation.serializers import BatchInputSerializer, JobInputSerializer, JobSerializer
from generation.services.expand import jobs_create_expanded


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the job's state."


class UnprocessableEntity(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."


@contextmanager
def _submit_errors_as_api_errors() -> Iterator[None]:
    """What submitting can refuse, as the API's statuses: an unseen source image 404, bad
    input 400, too many active jobs 429 (with Retry-After), a reused Idempotency-Key 422."""
    try:
        yield
    except services.SourceNotFound as exc:
        raise NotFound(str(exc)) from None
    except services.JobInputError as exc:
        raise ValidationError(str(exc)) from None
    except services.JobLimitExceeded as exc:
        raise Throttled(wait=exc.retry_after, detail=str(exc)) from None
    except services.IdempotencyConflict as exc:
        raise UnprocessableEntity(str(exc)) from None


class BatchOutputSerializer(serializers.Serializer):
    """A queued wildcard batch."""

    batch = serializers.CharField(help_text="The key its jobs share (GET /api/jobs/?batch=).")
    page_url = serializers.URLField(help_text="The batch's grid page.")
    jobs = JobSerializer(many=True)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "batch", str, description="Only the jobs of this wildcard batch (its key)."
            )
        ]
    )
)
class JobViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The caller's generation jobs."""

    permission_classes = [IsAuthenticated]
    serializer_class = JobSerializer
    keyset_orderings = {"-created": ("-created", "-id")}

    def get_queryset(self) -> QuerySet[GenerationJob]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return GenerationJob.objects.none()
        jobs = jobs_of(user=self.request.user)
        batch = self.request.query_params.get("batch")
        return jobs.filter(batch=batch) if batch else jobs

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        job = job_get(job_id=_int(pk), user=request.user)
        context = {**self.get_serializer_context(), "with_position": True}
        return Response(JobSerializer(job, context=context).data)

    @extend_schema(
        request=JobInputSerializer,
        responses={201: JobSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                location=OpenApiParameter.HEADER,
                required=False,
                description="Same key and body: the same job back. Same key, other body: 422.",
            )
        ],
    )
    def create(self, request: Request) -> Response:
        """Queue a job; 201 with the job, 429 when too many of yours are waiting."""
        serializer = JobInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with _submit_errors_as_api_errors():
            job, _ = services.job_create(
                owner=request.user,
                request=serializer.to_job_request(),
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
        job = job_get(job_id=job.id, user=request.user)
        context = {**self.get_serializer_context(), "with_position": True}
        return Response(JobSerializer(job, context=context).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=BatchInputSerializer, responses={201: BatchOutputSerializer})
    @action(detail=False, methods=["post"])
    def batch(self, request: Request) -> Response:
        """Queue one job per prompt of a wildcard template (``{a|b}``, ``__file__``, or a
        prompt matrix), all with one seed; 201 with the batch key, its grid page and the jobs.
        Nothing is queued unless the whole batch fits in your free job slots."""
        serializer = BatchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with _submit_errors_as_api_errors():
            jobs = jobs_create_expanded(
                owner=request.user,
                request=serializer.to_job_request(),
                mode=serializer.validated_data["wildcards"],
                count=serializer.validated_data.get("count"),
            )
        batch = jobs[0].batch
        body = {
            "batch": batch,
            "page_url": request.build_absolute_uri(reverse("generation:batch", args=[batch])),
            "jobs": JobSerializer(
                jobs_in_batch(batch=batch, user=request.user),
                many=True,
                context=self.get_serializer_context(),
            ).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel while queued or running; 409 once it has finished."""
        job = job_get(job_id=_int(pk), user=request.user)
        try:
            job = services.job_cancel(job=job)
        except services.JobNotCancellable as exc:
            raise Conflict(str(exc)) from None
        return Response(JobSerializer(job, context=self.get_serializer_context()).data)


def _int(value: str | None) -> int:
    from django.http import Http404

    try:
        return int(value or "")
    except ValueError:
        raise Http404 from None
