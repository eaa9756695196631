"""DynamoDB-backed limits: rate limiter, usage quotas, plans."""

from __future__ import annotations

from functools import cache

from aiimage.limits.quota import QuotaStore
from aiimage.limits.rate_limiter import RateLimiter
from aiimage.settings import get_settings


@cache
def quota_store() -> QuotaStore:
    return QuotaStore(get_settings().limits_table)


@cache
def rate_limiter() -> RateLimiter:
    return RateLimiter(get_settings().limits_table)
