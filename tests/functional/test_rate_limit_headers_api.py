"""The RateLimit headers through the real apps: every answer of a limited route carries
them, the 200s counting down and the 429 beside its Retry-After; the rest carry none."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from generate_api.app import app as generate_app
from jobs_api.app import app as jobs_app
from tests.conftest import make_token
from tests.functional.enhancer_support import browser, jpeg

pytestmark = pytest.mark.usefixtures("aws_stack")
SD15 = "@cf/runwayml/stable-diffusion-v1-5-img2img"
ESRGAN = "nightmareai/real-esrgan"


def post(client: TestClient, path: str, model: str) -> httpx.Response:
    response: httpx.Response = client.post(
        path, data={"model": model}, files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")}
    )
    return response


def test_generate_answers_carry_the_policy_and_count_down_to_the_429() -> None:
    with TestClient(generate_app, base_url="https://app.test") as client:
        client.headers["Authorization"] = f"Bearer {make_token('headers-user', plan='pro')}"
        answers = [post(client, "/api/ai-image/generate", SD15) for _ in range(16)]
    assert [a.status_code for a in answers] == [200] * 15 + [429]
    assert {a.headers["ratelimit-policy"] for a in answers} == {'"generate";q=15;w=60'}
    remaining = [a.headers["ratelimit"].split(";")[1] for a in answers]
    assert remaining == [f"r={n}" for n in range(14, -1, -1)] + ["r=0"]
    limited = answers[-1]
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert limited.headers["ratelimit"] == f'"generate";r=0;t={retry_after}'
    assert limited.json()["error"]["type"] == "rate_limited"
    assert answers[0].headers["x-usage-limit"].isdigit()  # beside the usage header


def test_a_job_submission_carries_the_jobs_policy() -> None:
    with browser(jobs_app) as guest:
        accepted = post(guest, "/api/ai-image/jobs", ESRGAN)
        assert accepted.status_code == 202, accepted.text
        assert accepted.headers["ratelimit-policy"] == '"jobs";q=10;w=60'
        assert accepted.headers["ratelimit"].startswith('"jobs";r=9;t=')
        # Reads have a budget of their own: a submission does not spend it.
        listing = guest.get("/api/ai-image/jobs")
        assert listing.status_code == 200
        assert listing.headers["ratelimit-policy"] == '"job_reads";q=10;w=60'
        assert listing.headers["ratelimit"].startswith('"job_reads";r=9;t=')
