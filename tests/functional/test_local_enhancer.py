"""The Enhancer on the local stack over real HTTP: a direct upload PUT to the presigned URL,
generate through the Workers AI and Replicate emulators, and a job finished by the SQS
poller invoking the worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.functional.enhancer_support import jpeg

if TYPE_CHECKING:
    from tests.plugins.stack import LocalStack

pytestmark = pytest.mark.stack
CSRF = "csrf-token-0123456789abcdef"


@contextmanager
def session(stack: LocalStack, address: str | None = None) -> Iterator[httpx.Client]:
    """A same-origin guest: the first usage call sets the guest cookie. `address` (a
    loopback address) puts it behind a network of its own, whose daily allowance no other
    test spends."""
    transport = httpx.HTTPTransport(local_address=address) if address else None
    with httpx.Client(
        base_url=stack.api, trust_env=False, timeout=30, transport=transport
    ) as client:
        guest = client.get("/api/ai-image/usage").cookies["guest_id"]
        client.headers.update(
            {
                "Origin": stack.api,
                "X-CSRF-Token": CSRF,
                "Cookie": f"guest_id={guest}; csrf_token={CSRF}",
            }
        )
        yield client


def test_a_direct_upload_then_generate_through_the_replicate_emulator(
    local_stack: LocalStack,
) -> None:
    with session(local_stack) as client:
        image = jpeg(320, 240)
        upload = client.post(
            "/api/ai-image/uploads", json={"contentType": "image/jpeg", "size": len(image)}
        ).json()["data"]
        put = httpx.put(upload["url"], content=image, headers=upload["headers"], trust_env=False)
        assert put.status_code == 200, put.text
        response = client.post(
            "/api/ai-image/generate",
            data={"model": "nightmareai/real-esrgan", "uploadKey": upload["uploadKey"]},
        )
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["charge"]["provider"] == "replicate"
        result = client.get(data["imageUrl"])
        assert result.status_code == 200
        assert result.headers["content-type"] == "image/webp"


def test_generate_uses_the_workers_ai_emulator(local_stack: LocalStack) -> None:
    with session(local_stack) as client:
        response = client.post(
            "/api/ai-image/generate",
            data={"model": "@cf/stabilityai/stable-diffusion-xl-base-1.0", "steps": "20"},
            files={"image": ("a.jpg", jpeg(256, 256), "image/jpeg")},
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"]["charge"]["provider"] == "workers_ai"


def test_a_job_is_finished_by_the_queue_poller(local_stack: LocalStack) -> None:
    with session(local_stack) as client:
        created = client.post(
            "/api/ai-image/jobs",
            data={"model": "nightmareai/real-esrgan", "scale": "2"},
            files={"image": ("a.jpg", jpeg(), "image/jpeg")},
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["data"]["id"]
        status = "queued"
        for _ in range(60):  # the poller long-polls every second; reads are 10 a minute
            answer = client.get(f"/api/ai-image/jobs/{job_id}")
            if answer.status_code == 429:
                time.sleep(answer.json()["retryAfter"])
                continue
            status = answer.json()["data"]["status"]
            if status not in ("queued", "processing"):
                break
            time.sleep(1)
        assert status == "succeeded"
