"""DeliveryApiFunction: `GET`/`HEAD /r2-ai/{key+}`, owner-gated image delivery, and
`GET /api/ai-image/provenance`, a result's C2PA manifest (adapter only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query, Request, Response
from mangum import Mangum

from aiimage.enhancer.delivery import ImageFormat, ProvenanceView, deliver, provenance_of
from aiimage.http.app import CurrentIdentity, api_router, create_app, observed
from aiimage.http.models import Envelope
from aiimage.storage.keys import InvalidKeyError

router = api_router()


@router.head(
    "/r2-ai/{key:path}",
    response_class=Response,
    operation_id="head_object",
    summary="The headers a GET would answer (size, type, ETag), without the image; "
    "with `format`, no conversion is done and no Content-Length is sent",
)
@router.get(
    "/r2-ai/{key:path}",
    response_class=Response,
    responses={
        200: {"content": {"image/webp": {}, "image/png": {}, "image/jpeg": {}}},
        304: {"description": "Not modified"},
        307: {"description": "Large object: a short-lived presigned URL"},
    },
    summary="An image of the caller's: an original or a result",
)
def get_object(
    request: Request,
    identity: CurrentIdentity,
    key: str,
    if_none_match: Annotated[str | None, Header()] = None,
    download: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Save as this file name (the stored format's extension is added): "
            "`Content-Disposition: attachment`",
        ),
    ] = None,
    image_format: Annotated[
        ImageFormat | None,
        Query(
            alias="format",
            description="Re-encode as this format (a download; up to 24 MP and 4,000,000 "
            "bytes, else 413 output_too_large); without it, the stored bytes as they are",
        ),
    ] = None,
) -> Response:
    # Starlette decodes the path; the raw one shows encoded separators and dot segments.
    raw_path = _raw_path(request)
    if "%" in raw_path.partition("?")[0]:
        raise InvalidKeyError()
    delivery = deliver(
        identity,
        key,
        if_none_match=if_none_match,
        download=download,
        image_format=image_format,
        head_only=request.method == "HEAD",
    )
    response = Response(delivery.body, status_code=delivery.status, headers=delivery.headers)
    # A HEAD of a conversion (not done) has no known length: not the empty body's 0.
    unknown = delivery.status == 200 and "Content-Length" not in delivery.headers
    if request.method == "HEAD" and unknown:
        del response.headers["content-length"]
    return response


@router.get(
    "/api/ai-image/provenance",
    response_model=Envelope[ProvenanceView],
    response_model_by_alias=True,
    summary="The C2PA manifest of one of the caller's results, as the SDK validates it",
)
def get_provenance(
    identity: CurrentIdentity,
    url: Annotated[str, Query(min_length=8, max_length=1024, description="The imageUrl")],
) -> Envelope[ProvenanceView]:
    return Envelope(data=provenance_of(identity, url))


def _raw_path(request: Request) -> str:
    # Mangum sets `raw_path` to None; API Gateway's own event has the path as sent.
    raw = request.scope.get("raw_path")
    if raw is not None:
        return str(raw.decode("latin-1"))
    event = request.scope.get("aws.event") or {}
    return str(event.get("rawPath") or event.get("path") or request.url.path)


app = create_app("AI Image Enhancer: delivery", router, signs=True)
handler = observed(Mangum(app, lifespan="off"))
