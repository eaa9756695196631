"""What the Enhancer's HTTP functions answer: response models and their builders.

URLs handed to clients are absolute (the seed's smoke tests fetch `imageUrl` as is), built
on `aiimage.http.origin.public_base`: configuration, never the request's `Host`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from aiimage.enhancer import jobs
from aiimage.enhancer.estimate import estimated_seconds
from aiimage.enhancer.usage import OwnerLimits, UsageCounter
from aiimage.http.models import ApiModel
from aiimage.limits.plans import Entitlements
from aiimage.settings import MAX_UPLOAD_BYTES_CEILING
from aiimage.storage.keys import ObjectKey

if TYPE_CHECKING:
    # A type only: the uploads API answers these views without the generate path (Pillow).
    from aiimage.enhancer.generate import Generated

DELIVERY_PREFIX = "/r2-ai/"


def object_url(base: str, key: ObjectKey | str) -> str:
    return f"{base}{DELIVERY_PREFIX}{key}"


class ChargeView(ApiModel):
    """What a generate charged. `images`, `provider` and `costUsd` are ours; `total`,
    `planPortion` and `creditsPortion` are the seed system's fields, kept for its clients:
    the platform sells no credits, so the plan's quota carries the whole charge."""

    images: int
    provider: str
    cost_usd: float | None
    total: int
    plan_portion: int
    credits_portion: int = 0


class GenerateView(ApiModel):
    model: str
    image_url: str
    original_url: str
    usage: UsageCounter
    monthly_usage: UsageCounter
    limits: OwnerLimits
    plan: str
    entitlements: Entitlements
    charge: ChargeView

    @classmethod
    def of(cls, generated: Generated, base: str) -> GenerateView:
        usage = generated.usage
        return cls(
            model=generated.model,
            image_url=object_url(base, generated.result_key),
            original_url=object_url(base, generated.original_key),
            usage=usage.usage,
            monthly_usage=usage.monthly_usage,
            limits=usage.limits,
            plan=usage.plan,
            entitlements=usage.entitlements,
            charge=ChargeView(
                images=generated.charge.images,
                provider=generated.charge.provider,
                cost_usd=generated.charge.cost_usd,
                total=generated.charge.images,
                plan_portion=generated.charge.images,
            ),
        )


class JobError(ApiModel):
    code: str
    message: str


class JobInput(ApiModel):
    """The seed system's `input` of a job: the image it enhances."""

    url: str


class JobView(ApiModel):
    id: str
    status: jobs.JobStatus
    model: str
    created_at: int  # epoch ms
    updated_at: int
    image_url: str | None
    original_url: str
    input: JobInput  # the seed's name for `originalUrl`, kept for its clients
    error: JobError | None
    # While queued or processing: about how many seconds a job of its model takes now
    # (the recent latency of its provider); null when finished or without recent data.
    estimated_seconds: int | None = None

    @classmethod
    def of(cls, job: jobs.Job, base: str) -> JobView:
        return cls(**_job_fields(job, base))


def _job_fields(job: jobs.Job, base: str) -> dict[str, Any]:
    original_url = object_url(base, job.original_key)
    return {
        "id": job.id,
        "status": job.status,
        "model": job.params.model,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "image_url": object_url(base, job.result_key) if job.result_key else None,
        "original_url": original_url,
        "input": JobInput(url=original_url),
        "error": (
            JobError(code=job.error_code, message=job.error_message or "")
            if job.error_code
            else None
        ),
        "estimated_seconds": estimated_seconds(job),
    }


class JobAccepted(JobView):
    """A queued job, answered as `GET` answers it (`data.id`, `data.status`, as the seed's
    clients read it); `job` repeats the same view, as this API answered before."""

    job: JobView

    @classmethod
    def of(cls, job: jobs.Job, base: str) -> JobAccepted:
        fields = _job_fields(job, base)
        return cls(**fields, job=JobView(**fields))


class JobList(ApiModel):
    jobs: list[JobView]
    next_cursor: str | None


class UploadRequest(ApiModel):
    content_type: str = Field(max_length=100)
    size: int = Field(le=MAX_UPLOAD_BYTES_CEILING)


class UploadView(ApiModel):
    upload_key: str
    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime
