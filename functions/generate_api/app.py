"""GenerateApiFunction: `POST /api/ai-image/generate` (adapter only; the use case is in the
layer). Answers 200 with the result, or 202 with a job when the provider needs longer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile
from fastapi.responses import JSONResponse
from mangum import Mangum
from starlette.concurrency import run_in_threadpool

from aiimage.enhancer.forms import GenerateForm
from aiimage.enhancer.generate import Generated, generate
from aiimage.enhancer.intake import ImageSource
from aiimage.enhancer.views import GenerateView, JobAccepted
from aiimage.http.app import CurrentIdentity, create_app, observed
from aiimage.http.models import Envelope
from aiimage.http.multipart import read_inline
from aiimage.http.origin import PublicBase
from aiimage.http.ratelimit_headers import capacity_exhausted_response, rate_limited_responses

router = APIRouter()


@router.post(
    "/api/ai-image/generate",
    response_model=Envelope[GenerateView],
    response_model_by_alias=True,
    responses=rate_limited_responses(
        200,
        202,
        responses={202: {"model": Envelope[JobAccepted]}, 503: capacity_exhausted_response()},
    ),
    summary="Enhance one image (200), or accept it as a job when it needs longer (202)",
)
async def generate_image(
    base: PublicBase,
    response: Response,
    identity: CurrentIdentity,
    form: Annotated[GenerateForm, Form()],
    image: Annotated[
        UploadFile | None, File(description="JPEG, PNG or WebP, ≤ 4,500,000 bytes (4.5 MB)")
    ] = None,
) -> Envelope[GenerateView] | JSONResponse:
    params = form.requested()
    source = ImageSource(data=await read_inline(image), upload_key=form.upload_key)
    # The use case is blocking I/O (boto3, httpx): keep it off the event loop.
    outcome = await run_in_threadpool(generate, identity, params, source)
    if isinstance(outcome, Generated):
        view = GenerateView.of(outcome, base)
        response.headers["X-Usage-Limit"] = str(view.usage.limit)
        return Envelope(data=view)
    accepted: Envelope[JobAccepted] = Envelope(data=JobAccepted.of(outcome.job, base))
    return JSONResponse(
        accepted.model_dump(mode="json", by_alias=True),
        status_code=202,
        headers={"Location": f"/api/ai-image/jobs/{outcome.job.id}"},
    )


app = create_app("AI Image Enhancer: generate", router, needs_provider=True, signs=True)
handler = observed(Mangum(app, lifespan="off"))
