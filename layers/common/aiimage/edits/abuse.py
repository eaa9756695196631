"""Abuse counting: requests per scope (a guest, an IP, ...) and UTC hour, with one warning the
first time a scope goes above `abuse_escalation_threshold_per_hour` in an hour.

Scopes are keyed hashes (`scope_hash`), so a raw IP or guest id never reaches a key or a log
line. Counter items live in the limits table: `pk=abuse#{scope_hash}`, `sk=h#{YYYYMMDDHH}`,
`hits`, and `expires_at` (TTL: two hours after the hour ends).

Counting is ONE UpdateItem (`ADD hits :one`, returning the new count): each request gets a
distinct count, so exactly one request in an hour sees `threshold + 1` and logs the
escalation, however many run at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiimage import aws, credentials
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.settings import get_settings
from aiimage.singletons import singleton

ABUSE_ESCALATION_MESSAGE = LogEvent.AI_ABUSE_ESCALATION
METRIC_ABUSE_ESCALATION = MetricName.AI_ABUSE_ESCALATION

_TTL_AFTER_HOUR = timedelta(hours=2)
_SCOPE_HASH_LENGTH = 32


def _utcnow() -> datetime:
    return datetime.now(UTC)


def scope_hash(*parts: str) -> str:
    """A stable, keyed pseudonym for a scope (HMAC-SHA256 with the guest cookie secret, hex,
    32 characters). The parts are JSON-encoded, so ("a", "bc") and ("ab", "c") differ."""
    key = credentials.guest_cookie_secret().get_secret_value().encode()
    message = b"ai-abuse-scope:v1:" + json.dumps(list(parts)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:_SCOPE_HASH_LENGTH]


class AbuseCounter:
    def __init__(
        self,
        table: str,
        *,
        threshold_per_hour: int,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._table = table
        self._threshold = threshold_per_hour
        self._clock = clock

    def record_request(self, scope_hash: str, *, event_id: str, tenant_id: str) -> int:
        """Count one request of `scope_hash` in this UTC hour; return the hour's count."""
        now = self._clock().astimezone(UTC)
        hour = now.replace(minute=0, second=0, microsecond=0)
        result = aws.dynamodb().update_item(
            TableName=self._table,
            Key={"pk": {"S": f"abuse#{scope_hash}"}, "sk": {"S": f"h#{hour:%Y%m%d%H}"}},
            UpdateExpression="ADD hits :one SET expires_at = :ttl",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":ttl": {"N": str(int((hour + timedelta(hours=1) + _TTL_AFTER_HOUR).timestamp()))},
            },
            ReturnValues="UPDATED_NEW",
        )
        hits = int(result["Attributes"]["hits"]["N"])
        if hits == self._threshold + 1:
            logger.warning(
                ABUSE_ESCALATION_MESSAGE,
                scope_hash=scope_hash,
                event_id=event_id,
                tenant_id=tenant_id,
                hits=hits,
                threshold_per_hour=self._threshold,
            )
            metrics.add_metric(name=METRIC_ABUSE_ESCALATION, unit="Count", value=1)
        return hits


@singleton
def abuse_counter() -> AbuseCounter:
    settings = get_settings()
    return AbuseCounter(
        settings.limits_table, threshold_per_hour=settings.abuse_escalation_threshold_per_hour
    )


def record_request(scope_hash: str, *, event_id: str, tenant_id: str) -> int:
    """Count one request of the scope in this UTC hour (see `AbuseCounter`)."""
    return abuse_counter().record_request(scope_hash, event_id=event_id, tenant_id=tenant_id)
