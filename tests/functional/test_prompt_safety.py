"""Prompt safety of the Enhancer (issue 15, finding 2): a generate or a job whose prompt or
negative prompt holds a blocked term is 403 `prompt_blocked` in the envelope, before the
rate limit, the quota or the bucket see anything."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from generate_api.app import app as generate_app
from jobs_api.app import app as jobs_app
from tests.functional.enhancer_support import browser, bucket_keys, jpeg
from usage_api.app import app as usage_app

pytestmark = pytest.mark.usefixtures("aws_stack")
SDXL = "@cf/stabilityai/stable-diffusion-xl-base-1.0"


@pytest.fixture
def guest() -> Iterator[TestClient]:
    with browser(generate_app) as client:
        yield client


def generate(
    client: TestClient, path: str = "/api/ai-image/generate", **fields: str
) -> httpx.Response:
    files = {"image": ("photo.jpg", jpeg(), "image/jpeg")}
    response: httpx.Response = client.post(path, data={"model": SDXL, **fields}, files=files)
    return response


def used(client: TestClient) -> int:
    with TestClient(usage_app, base_url="https://app.test") as usage:
        usage.cookies.update(client.cookies)
        return int(usage.get("/api/ai-image/usage").json()["data"]["usage"]["used"])


def refusal(response: httpx.Response) -> tuple[int, str, str, object]:
    error = response.json()["error"]
    return response.status_code, error["type"], error["code"], error["details"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"prompt": "nude kill"}, "prompt"),  # made only of blocked terms
        ({"prompt": "a portrait, nu....de"}, "prompt"),
        ({"prompt": "a portrait", "negative_prompt": "k!ll"}, "negative_prompt"),
    ],
)
def test_a_blocked_sdxl_prompt_is_refused_and_costs_nothing(
    guest: TestClient, fields: dict[str, str], field: str
) -> None:
    response = generate(guest, **fields)
    assert refusal(response) == (403, "forbidden", "prompt_blocked", {"field": field})
    assert response.json()["success"] is False
    assert used(guest) == 0
    assert bucket_keys() == []
    assert generate(guest, prompt="a watercolor portrait").status_code == 200
    assert used(guest) == 1


def test_a_blocked_job_is_refused_and_costs_nothing(guest: TestClient) -> None:
    with TestClient(jobs_app, base_url="https://app.test") as jobs:
        jobs.cookies.update(guest.cookies)
        jobs.headers.update(guest.headers)
        response = generate(jobs, "/api/ai-image/jobs", prompt="Nudity")
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"field": "prompt"}
    assert used(guest) == 0
    assert bucket_keys() == []


def test_blocked_terms_replace_the_baseline(
    guest: TestClient, settings_env: Callable[..., None]
) -> None:
    settings_env(BLOCKED_TERMS="zebra, giraffe")
    assert generate(guest, prompt="nude").status_code == 200  # replaced, not added to
    assert generate(guest, prompt="a z.e.b.r.a").status_code == 403
    assert used(guest) == 1
