"""JobsApiFunction: asynchronous enhancer jobs of the caller (adapter only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, Form, Path, Query, UploadFile
from fastapi.responses import JSONResponse
from mangum import Mangum
from starlette.concurrency import run_in_threadpool

from aiimage.enhancer import jobs
from aiimage.enhancer.forms import GenerateForm
from aiimage.enhancer.intake import ImageSource, submit_job
from aiimage.enhancer.views import JobAccepted, JobList, JobView
from aiimage.http.app import CurrentIdentity, api_router, create_app, observed
from aiimage.http.models import Envelope
from aiimage.http.multipart import read_inline
from aiimage.http.origin import PublicBase
from aiimage.http.ratelimit_headers import rate_limited_responses

router = api_router(prefix="/api/ai-image/jobs")
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{29}$", description="The job's id")]


@router.post(
    "",
    status_code=202,
    response_model=Envelope[JobAccepted],
    response_model_by_alias=True,
    responses=rate_limited_responses(202),
    summary="Queue an enhancement; poll the job for its result",
)
async def create_job(
    base: PublicBase,
    identity: CurrentIdentity,
    form: Annotated[GenerateForm, Form()],
    image: Annotated[
        UploadFile | None, File(description="JPEG, PNG or WebP, ≤ 4,500,000 bytes (4.5 MB)")
    ] = None,
) -> JSONResponse:
    params = form.requested()
    source = ImageSource(data=await read_inline(image), upload_key=form.upload_key)
    job = await run_in_threadpool(submit_job, identity, params, source)
    accepted: Envelope[JobAccepted] = Envelope(data=JobAccepted.of(job, base))
    return JSONResponse(
        accepted.model_dump(mode="json", by_alias=True),
        status_code=202,
        headers={"Location": f"/api/ai-image/jobs/{job.id}"},
    )


@router.get(
    "",
    response_model=Envelope[JobList],
    response_model_by_alias=True,
    responses=rate_limited_responses(200),
    summary="The caller's jobs, newest first (counted as job reads: 10 a minute)",
)
def list_jobs(
    base: PublicBase,
    identity: CurrentIdentity,
    status: Annotated[jobs.JobStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Envelope[JobList]:
    page = jobs.list_jobs(identity, status=status, limit=limit, cursor=cursor)
    return Envelope(
        data=JobList(jobs=[JobView.of(j, base) for j in page.jobs], next_cursor=page.next_cursor)
    )


@router.get(
    "/{job_id}",
    response_model=Envelope[JobView],
    response_model_by_alias=True,
    responses=rate_limited_responses(200),
    summary="One of the caller's jobs (a poll: 10 job reads a minute per owner)",
)
def get_job(base: PublicBase, identity: CurrentIdentity, job_id: JobId) -> Envelope[JobView]:
    return Envelope(data=JobView.of(jobs.read(identity, job_id), base))


@router.post(
    "/{job_id}/cancel",
    response_model=Envelope[JobView],
    response_model_by_alias=True,
    summary=(
        "Cancel a queued or running job; its image is given back. A finished job is "
        "answered unchanged (200), so a retried cancel is harmless"
    ),
)
def cancel_job(base: PublicBase, identity: CurrentIdentity, job_id: JobId) -> Envelope[JobView]:
    return Envelope(data=JobView.of(jobs.cancel(identity, job_id), base))


app = create_app("AI Image Enhancer: jobs", router, needs_provider=True)
handler = observed(Mangum(app, lifespan="off"))
