"""Provider completion webhooks for Magic Edits: Runware's (a secret token in the URL) and
Replicate's (signed, Standard Webhooks). A webhook finishes a request through the same path
as a poll (`runner.advance`), in this order, each step before anything costlier:

1. authenticate it (token or signature), parse it: no output is fetched yet;
2. match its task to a request of ours that is still `processing`: an unknown task, a
   finished request or an unfinished run is acknowledged with nothing done and nothing
   fetched, so a forged or stray URL never makes us connect anywhere;
3. claim its webhook id (Replicate), one conditional write: a replay or a concurrent
   duplicate of a delivery being handled is acknowledged with nothing done twice;
4. fetch the output (`OutputDownloadingProvider.fetched`, under the provider's output
   policy) and advance the request. A failure releases the claim and answers 5xx, so the
   provider's retry can do it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiimage import credentials
from aiimage.edits import request_store, webhook_receipts
from aiimage.edits.models import ProviderName
from aiimage.edits.webhook_receipts import Receipt
from aiimage.errors import AuthError
from aiimage.observability import LogEvent, logger
from aiimage.providers import registry
from aiimage.providers.base import Outcome

if TYPE_CHECKING:
    from aiimage.providers.outputs import OutputDownloadingProvider


def runware_webhook(token: str, body: bytes) -> int:
    """A Runware completion webhook: check its token, then finish each reported task of
    ours; the number of requests it finished."""
    expected = credentials.runware_webhook_token()
    if expected is None or not hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        raise AuthError("Unknown webhook token", code="invalid_webhook_token")
    client = registry.runware()
    outcomes = client.webhook_outcomes(body)
    return sum(complete(client, "runware", task, out) for task, out in outcomes.items())


def replicate_webhook(headers: Mapping[str, str], body: bytes) -> int:
    """A Replicate webhook: verify its signature, then finish the prediction's request;
    1 if it finished one, else 0 (a replay, a redelivery, or a prediction not ours)."""
    client = registry.replicate()
    delivery = client.webhook_delivery(headers, body)
    job_id = delivery.outcome.job_id
    if job_id is None:
        return 0
    receipt = Receipt("replicate", delivery.webhook_id, delivery.expires_at)
    return int(complete(client, "replicate", job_id, delivery.outcome, receipt=receipt))


def complete(
    client: OutputDownloadingProvider,
    provider: ProviderName,
    task_id: str,
    outcome: Outcome,
    *,
    receipt: Receipt | None = None,
) -> bool:
    """Finish the request of a provider task (steps 2 to 4 above). False when there is
    nothing to do: not our task, already finished, not finished yet, or a duplicate."""
    request = request_store.edit_for_task(provider, task_id)
    if request is None or request.status != "processing" or outcome.status == "pending":
        logger.info(LogEvent.WEBHOOK_UNMATCHED, provider=provider, task_id=task_id)
        return False
    if receipt is not None and not webhook_receipts.claim(receipt):
        logger.info(LogEvent.WEBHOOK_REPLAYED, provider=provider, webhook_id=receipt.webhook_id)
        return False
    # The runner (Pillow for the watermark, the providers' HTTP stack) is imported by the
    # webhook that finishes a request: the edits API's other routes start without it.
    from aiimage.edits import runner

    try:
        runner.advance(request, provider, client.fetched(outcome), polled=False)
    except BaseException:
        if receipt is not None:
            webhook_receipts.release(receipt)
        raise
    return True
