"""UploadsApiFunction: `POST /api/ai-image/uploads`, a presigned direct upload (adapter only)."""

from __future__ import annotations

from mangum import Mangum

from aiimage.enhancer.uploads import create_upload
from aiimage.enhancer.views import UploadRequest, UploadView
from aiimage.http.app import CurrentIdentity, api_router, create_app, observed
from aiimage.http.models import Envelope
from aiimage.http.ratelimit_headers import rate_limited_responses

router = api_router()


@router.post(
    "/api/ai-image/uploads",
    status_code=201,
    response_model=Envelope[UploadView],
    response_model_by_alias=True,
    responses=rate_limited_responses(201),
    summary=(
        "A presigned PUT for one image up to 10,485,760 bytes (10 MiB); pass its uploadKey "
        "to generate"
    ),
)
def create(identity: CurrentIdentity, body: UploadRequest) -> Envelope[UploadView]:
    upload = create_upload(identity, content_type=body.content_type, size=body.size)
    return Envelope(
        data=UploadView(
            upload_key=str(upload.key),
            url=upload.presigned.url,
            method="PUT",
            headers=upload.presigned.headers,
            expires_at=upload.presigned.expires_at,
        )
    )


app = create_app("AI Image Enhancer: uploads", router)
handler = observed(Mangum(app, lifespan="off"))
