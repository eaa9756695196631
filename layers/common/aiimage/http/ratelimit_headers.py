"""The standard rate-limit header fields, from the decisions the limiter made for a request.

Syntax of draft-ietf-httpapi-ratelimit-headers-10 (IETF httpapi WG, September 2025;
https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/), Structured
Field lists of quoted policy names with parameters:

    RateLimit-Policy: "generate";q=15;w=60     every policy the request was checked against
    RateLimit: "generate";r=14;t=60            the policy closest to refusing: `r` units
                                               remaining, `t` seconds until a unit returns

A 429 also carries `Retry-After` (from `RateLimitedError`), which equals `t` there.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from aiimage.http.models import ErrorEnvelope
from aiimage.limits.rate_limiter import RateDecision


def rate_limit_headers(decisions: Iterable[RateDecision]) -> dict[str, str]:
    """`RateLimit-Policy` and `RateLimit`, or nothing when no limit was checked."""
    latest = {decision.policy: decision for decision in decisions}  # one per policy
    if not latest:
        return {}
    binding = min(latest.values(), key=lambda decision: decision.remaining)
    return {
        "RateLimit-Policy": ", ".join(
            f'"{d.policy}";q={d.limit};w={d.window_seconds}' for d in latest.values()
        ),
        "RateLimit": (f'"{binding.policy}";r={binding.remaining};t={binding.reset_after_seconds}'),
    }


# The same fields for the OpenAPI description of a limited operation.
_HEADER_DOCS: dict[str, dict[str, Any]] = {
    "RateLimit-Policy": {
        "description": (
            'The limits this request was checked against, e.g. `"generate";q=15;w=60`: at '
            "most `q` requests in any `w` seconds (a sliding window, exact over every span)."
        ),
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": (
            'The limit closest to refusing, e.g. `"generate";r=14;t=60`: `r` requests left '
            "now, `t` seconds until one more becomes available."
        ),
        "schema": {"type": "string"},
    },
}
_RETRY_AFTER_DOC = {
    "description": "Seconds until one more request would be admitted (≥ 1).",
    "schema": {"type": "integer", "minimum": 1},
}


def capacity_exhausted_response() -> dict[str, Any]:
    """The 503 of a route that calls a paid provider: its daily spend ceiling (or the
    guests' share of it) has no room; `Retry-After` is the seconds to UTC midnight."""
    return {
        "model": ErrorEnvelope,
        "description": "The provider's daily spend ceiling is reached: `capacity_exhausted`",
        "headers": {
            "Retry-After": {
                "description": "Seconds until the ceilings reset (UTC midnight).",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }


def rate_limited_responses(
    *codes: int, responses: Mapping[int, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a rate-limited route: the RateLimit headers on its answers
    `codes` (merged into `responses`, the route's own extra answers) and its 429."""
    merged: dict[int | str, dict[str, Any]] = {
        code: dict(answer) for code, answer in (responses or {}).items()
    }
    for code in codes:
        merged.setdefault(code, {})["headers"] = copy.deepcopy(_HEADER_DOCS)
    merged[429] = {
        "model": ErrorEnvelope,
        "description": "Rate limited: `rate_limited` in the envelope",
        "headers": copy.deepcopy({"Retry-After": _RETRY_AFTER_DOC, **_HEADER_DOCS}),
    }
    return merged  # copies: FastAPI's document builder may normalise them in place
