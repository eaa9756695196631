"""UsageApiFunction: `GET /api/ai-image/usage` and `GET /api/ai-image/models` (adapter
only; the use cases are in the layer)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from mangum import Mangum

from aiimage.enhancer.usage import ModelView, UsageView, get_usage, list_models
from aiimage.http.app import (
    CurrentIdentity,
    create_app,
    envelope_response,
    observed,
    run_blocking,
)
from aiimage.http.models import Envelope

router = APIRouter()


@router.get(
    "/api/ai-image/usage",
    response_model=Envelope[UsageView],
    response_model_by_alias=True,
    summary="Usage, limits and entitlements of the caller",
)
async def usage(request: Request, identity: CurrentIdentity) -> Response:
    # The use case reads DynamoDB (blocking boto3): inline on Lambda, else one threadpool hop.
    view = await run_blocking(request, get_usage, identity)
    return envelope_response(Envelope(data=view), headers={"X-Usage-Limit": str(view.usage.limit)})


@router.get(
    "/api/ai-image/models",
    response_model=Envelope[list[ModelView]],
    response_model_by_alias=True,
    summary="Every model of the catalog: which plans run it, and for the caller whether it "
    "may, or which plan unlocks it",
)
async def models(identity: CurrentIdentity) -> Response:
    # No I/O: the catalog and the plans are code and settings.
    return envelope_response(Envelope(data=list_models(identity)))


app = create_app("AI Image Enhancer: usage", router)
handler = observed(Mangum(app, lifespan="off"))
