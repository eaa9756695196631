"""RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers) from the decisions
of a request, and through the middleware of a real app, sync routes included."""

from __future__ import annotations

import os

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from aiimage.http.app import create_app
from aiimage.http.ratelimit_headers import rate_limit_headers
from aiimage.limits.rate_limiter import RateDecision, RateLimiter


def decision(policy: str, limit: int, remaining: int, after: int, window: int = 60) -> RateDecision:
    return RateDecision(
        limit=limit,
        remaining=remaining,
        reset_at=0.0,
        policy=policy,
        window_seconds=window,
        reset_after_seconds=after,
    )


def test_no_decision_no_headers() -> None:
    assert rate_limit_headers([]) == {}


def test_one_policy() -> None:
    assert rate_limit_headers([decision("generate", 15, 14, 60)]) == {
        "RateLimit-Policy": '"generate";q=15;w=60',
        "RateLimit": '"generate";r=14;t=60',
    }


def test_every_policy_is_listed_and_the_closest_to_refusing_is_reported() -> None:
    headers = rate_limit_headers(
        [
            decision("edit-creates", 5, 3, 40),
            decision("event-photos", 10, 1, 12),
            decision("daily", 100, 50, 3600, window=86400),
        ]
    )
    assert headers["RateLimit-Policy"] == (
        '"edit-creates";q=5;w=60, "event-photos";q=10;w=60, "daily";q=100;w=86400'
    )
    assert headers["RateLimit"] == '"event-photos";r=1;t=12'


def test_a_policy_checked_twice_is_named_once_with_its_latest_state() -> None:
    headers = rate_limit_headers([decision("jobs", 10, 4, 30), decision("jobs", 10, 3, 30)])
    assert headers == {"RateLimit-Policy": '"jobs";q=10;w=60', "RateLimit": '"jobs";r=3;t=30'}


MINUTE = 1_699_999_980.0


def app_with_limited_routes() -> TestClient:
    router = APIRouter()
    limiter = RateLimiter(os.environ["LIMITS_TABLE"], clock=lambda: MINUTE + 51.5)

    @router.get("/sync")
    def sync_route() -> dict[str, str]:  # FastAPI runs it in a threadpool, in a context copy
        limiter.hit("sync", "guest#a", limit=3, window_seconds=60)
        return {}

    @router.get("/refused")
    async def refused_route() -> dict[str, str]:
        limiter.hit("async", "guest#a", limit=1, window_seconds=10)
        limiter.hit("async", "guest#a", limit=1, window_seconds=10)
        return {}

    @router.get("/plain")
    async def plain_route() -> dict[str, str]:
        return {}

    return TestClient(create_app("test", router), base_url="https://app.test")


@pytest.mark.usefixtures("aws_stack")
def test_the_middleware_writes_them_for_sync_and_refused_routes_and_only_there() -> None:
    with app_with_limited_routes() as client:
        ok = client.get("/sync")
        assert ok.headers["ratelimit"] == '"sync";r=2;t=60'
        refused = client.get("/refused")
        assert refused.status_code == 429
        assert refused.headers["ratelimit-policy"] == '"async";q=1;w=10'
        assert refused.headers["ratelimit"] == '"async";r=0;t=10'
        assert refused.headers["retry-after"] == "10"
        assert refused.json()["error"]["type"] == "rate_limited"
        plain = client.get("/plain")  # no limit checked: nothing stale from the last request
        assert "ratelimit" not in plain.headers
        assert "ratelimit-policy" not in plain.headers
