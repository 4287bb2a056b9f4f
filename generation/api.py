"""Generation API: submit, follow, list and cancel jobs."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, Throttled, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from generation import services
from generation.models import GenerationJob
from generation.selectors import job_get, jobs_of
from generation.serializers import JobInputSerializer, JobSerializer


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the job's state."


class UnprocessableEntity(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."


class JobViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The caller's generation jobs."""

    permission_classes = [IsAuthenticated]
    serializer_class = JobSerializer
    keyset_orderings = {"-created": ("-created", "-id")}

    def get_queryset(self) -> QuerySet[GenerationJob]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return GenerationJob.objects.none()
        return jobs_of(user=self.request.user)

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
        try:
            job, _ = services.job_create(
                owner=request.user,
                request=serializer.to_job_request(),
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
        except services.SourceNotFound as exc:
            raise NotFound(str(exc)) from None
        except services.JobInputError as exc:
            raise ValidationError(str(exc)) from None
        except services.JobLimitExceeded as exc:
            raise Throttled(wait=exc.retry_after, detail=str(exc)) from None
        except services.IdempotencyConflict as exc:
            raise UnprocessableEntity(str(exc)) from None
        job = job_get(job_id=job.id, user=request.user)
        context = {**self.get_serializer_context(), "with_position": True}
        return Response(JobSerializer(job, context=context).data, status=status.HTTP_201_CREATED)

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
