"""The provider webhooks: Runware (with the webhook token in the URL) and Replicate (signed
with the webhook secret) report finished tasks; `aiimage.edits.webhooks` checks them, matches
them to our requests and completes them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from ai_edits_api.views import WebhookResult
from aiimage.edits import webhooks
from aiimage.http.models import Envelope

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@router.post("/runware", response_model=Envelope[WebhookResult])
async def runware_webhook(
    request: Request, token: Annotated[str, Query(min_length=1, max_length=200)]
) -> Envelope[WebhookResult]:
    body = await request.body()
    # The runner's work is blocking I/O (boto3, httpx): keep it off the event loop.
    completed = await run_in_threadpool(webhooks.runware_webhook, token, body)
    return Envelope(data=WebhookResult(completed=completed))


@router.post("/replicate", response_model=Envelope[WebhookResult])
async def replicate_webhook(request: Request) -> Envelope[WebhookResult]:
    body = await request.body()
    completed = await run_in_threadpool(webhooks.replicate_webhook, request.headers, body)
    return Envelope(data=WebhookResult(completed=completed))
