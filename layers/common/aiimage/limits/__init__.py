"""DynamoDB-backed limits: rate limiter, usage quotas, plans."""

from __future__ import annotations

from aiimage.limits.quota import QuotaStore
from aiimage.limits.rate_limiter import RateLimiter
from aiimage.settings import get_settings
from aiimage.singletons import singleton


@singleton
def quota_store() -> QuotaStore:
    return QuotaStore(get_settings().limits_table)


@singleton
def rate_limiter() -> RateLimiter:
    return RateLimiter(get_settings().limits_table)
