"""Webhook receipts: a provider's webhook id acted on at most once while its signature is
accepted. Standard Webhooks (Replicate) keep one `webhook-id` across the retries of an
event, and a captured webhook stays validly signed for its tolerance window, so a receipt
lives that long (plus a margin for clock skew) as `webhook#{provider}#{webhookId}` /
`receipt` in `EditsTable`, TTL `expires_at`.

`claim` is one conditional put: of any number of concurrent deliveries of one id exactly
one wins. A claim whose work then fails is released, so the provider's retry can do it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.settings import get_settings

# DynamoDB's TTL deletes late (up to days): the condition ignores an expired receipt itself.
CLOCK_SKEW_MARGIN_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Receipt:
    provider: str
    webhook_id: str
    expires_at: int  # epoch seconds: when the webhook's signature is no longer accepted

    @property
    def key(self) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"webhook#{self.provider}#{self.webhook_id}"}, "sk": {"S": "receipt"}}


def claim(receipt: Receipt, *, now: float | None = None) -> bool:
    """True for the first delivery of this webhook id; False for a replay or a concurrent
    duplicate, while its receipt lives."""
    now = time.time() if now is None else now
    try:
        aws.dynamodb().put_item(
            TableName=get_settings().edits_table,
            Item={
                **receipt.key,
                "expires_at": {"N": str(receipt.expires_at + CLOCK_SKEW_MARGIN_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
            ExpressionAttributeValues={":now": {"N": str(int(now))}},
        )
    except ClientError as exc:
        if dynamo.condition_failed(exc):
            return False
        raise
    return True


def release(receipt: Receipt) -> None:
    """Forget a claim whose work failed: the provider's retry of the webhook may do it."""
    aws.dynamodb().delete_item(TableName=get_settings().edits_table, Key=receipt.key)
