"""UsageApiFunction: `GET /api/ai-image/usage` (adapter only; the use case is in the layer)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from mangum import Mangum

from aiimage.enhancer.usage import UsageView, get_usage
from aiimage.http.app import CurrentIdentity, create_app, observed
from aiimage.http.models import Envelope

router = APIRouter()


@router.get(
    "/api/ai-image/usage",
    response_model=Envelope[UsageView],
    response_model_by_alias=True,
    summary="Usage, limits and entitlements of the caller",
)
def usage(identity: CurrentIdentity, response: Response) -> Envelope[UsageView]:
    view = get_usage(identity)
    response.headers["X-Usage-Limit"] = str(view.usage.limit)
    return Envelope(data=view)


app = create_app("AI Image Enhancer: usage", router)
handler = observed(Mangum(app, lifespan="off"))
