"""DynamoDB-backed limits: rate limiter, usage quotas, plans, the spend ledger."""

from __future__ import annotations

from datetime import timedelta

from aiimage.limits.quota import QuotaStore
from aiimage.limits.rate_limiter import RateLimiter
from aiimage.limits.spend import SpendLedger
from aiimage.settings import get_settings
from aiimage.singletons import singleton


@singleton
def quota_store() -> QuotaStore:
    return QuotaStore(get_settings().limits_table)


@singleton
def rate_limiter() -> RateLimiter:
    return RateLimiter(get_settings().limits_table)


@singleton
def spend_ledger() -> SpendLedger:
    settings = get_settings()
    return SpendLedger(
        settings.limits_table,
        settings.daily_ceilings_micros,
        guest_share_percent=settings.guest_spend_share_percent,
        alert_cooldown=timedelta(minutes=settings.spend_alert_cooldown_minutes),
    )
