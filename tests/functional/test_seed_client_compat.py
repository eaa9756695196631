"""Clients of the seed Enhancer work unchanged (issue 22), over the local stack's HTTP port:
version-pinned Replicate slugs, job polling limited to 10 a minute with a 429 the seed's
clients read (top-level numeric `retryAfter`), one job view for create and get (`data.id`,
`data.status`, `data.input.url`), cancel of a finished job answered unchanged, and the
seed's `total` / `planPortion` / `creditsPortion` in a generate's `charge`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from aiimage.providers.replicate_pins import PINNED_VERSIONS
from tests.functional.enhancer_support import jpeg
from tests.functional.test_local_enhancer import session

if TYPE_CHECKING:
    from tests.plugins.stack import LocalStack

pytestmark = pytest.mark.stack
ESRGAN = "nightmareai/real-esrgan"
JOBS = "/api/ai-image/jobs"
# Each test's guest sits behind a loopback address of its own (127.0.0.31 on): the guests
# behind one network share 10 images a day, and other stack tests spend 127.0.0.1's.


def _used_today(client: httpx.Client) -> int:
    used: int = client.get("/api/ai-image/usage").json()["data"]["usage"]["used"]
    return used


def _create_job(client: httpx.Client) -> dict[str, Any]:
    created = client.post(
        JOBS,
        data={"model": ESRGAN, "scale": "2"},
        files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
    )
    assert created.status_code == 202, created.text
    job: dict[str, Any] = created.json()["data"]
    return job


def _wait_finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """Poll as a well-behaved client does: once a second, waiting out a 429's retryAfter."""
    for _ in range(30):
        answer = client.get(f"{JOBS}/{job_id}")
        if answer.status_code == 429:
            time.sleep(answer.json()["retryAfter"])
            continue
        job: dict[str, Any] = answer.json()["data"]
        if job["status"] not in ("queued", "processing"):
            return job
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_version_pinned_slug_runs_the_pinned_model(local_stack: LocalStack) -> None:
    with session(local_stack, "127.0.0.31") as client:
        response = client.post(
            "/api/ai-image/generate",
            data={"model": f"{ESRGAN}:{PINNED_VERSIONS[ESRGAN]}", "scale": "2"},
            files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
        )
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["model"] == ESRGAN
        assert data["charge"]["provider"] == "replicate"
        assert data["usage"]["used"] == 1


def test_another_version_is_refused_naming_the_allowed_one_and_nothing_is_charged(
    local_stack: LocalStack,
) -> None:
    with session(local_stack, "127.0.0.32") as client:
        other = "f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa"
        for model in (f"{ESRGAN}:{other}", f"{ESRGAN}:", f"{ESRGAN}:{PINNED_VERSIONS[ESRGAN]}x"):
            response = client.post(
                "/api/ai-image/generate",
                data={"model": model, "scale": "2"},
                files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
            )
            assert response.status_code == 400, (model, response.text)
            error = response.json()["error"]
            assert error["code"] == "model_version_not_allowed"
            assert error["details"] == {
                "field": "model",
                "model": ESRGAN,
                "allowedVersion": PINNED_VERSIONS[ESRGAN],
            }
        # A version on a model the catalog does not run, or on a Workers AI model.
        for model in ("stability-ai/sdxl:" + other, "@cf/runwayml/stable-diffusion-v1-5-img2img:1"):
            response = client.post(
                "/api/ai-image/generate",
                data={"model": model},
                files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
            )
            assert response.status_code == 400, (model, response.text)
            assert response.json()["error"]["code"] == "unknown_model"
        assert _used_today(client) == 0


def test_job_polling_is_limited_to_ten_a_minute_with_the_seeds_429(
    local_stack: LocalStack,
) -> None:
    with session(local_stack, "127.0.0.33") as client:
        job = _create_job(client)
        statuses = [client.get(f"{JOBS}/{job['id']}").status_code for _ in range(12)]
        assert statuses == [200] * 10 + [429] * 2
        refused = client.get(f"{JOBS}/{job['id']}")
        assert refused.status_code == 429
        body = refused.json()
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert body["retryAfter"] == retry_after  # top level, numeric: the seed's field
        assert body["error"]["code"] == "rate_limited"
        assert body["error"]["details"]["retryAfter"] == retry_after
        assert refused.headers["RateLimit-Policy"] == '"job_reads";q=10;w=60'
        assert refused.headers["RateLimit"] == f'"job_reads";r=0;t={retry_after}'

        # Listing is a job read too: a client held back on one job cannot poll the list.
        assert client.get(JOBS).status_code == 429
    with session(local_stack, "127.0.0.34") as stranger:
        # A new cookie is a new owner with its own budget, and sees none of the first's jobs.
        assert stranger.get(f"{JOBS}/{job['id']}").status_code == 404


def test_the_job_create_answer_is_the_job_view_of_get(local_stack: LocalStack) -> None:
    with session(local_stack, "127.0.0.35") as client:
        created = _create_job(client)
        assert created["status"] == "queued"
        assert created["input"]["url"] == created["originalUrl"]
        assert created["input"]["url"].startswith(f"{local_stack.api}/r2-ai/")
        # Ours, kept: the same view under `job`.
        assert created["job"] == {key: value for key, value in created.items() if key != "job"}
        got = client.get(f"{JOBS}/{created['id']}").json()["data"]
        assert set(got) == set(created) - {"job"}
        assert {k: got[k] for k in ("id", "model", "createdAt", "originalUrl", "input")} == {
            k: created[k] for k in ("id", "model", "createdAt", "originalUrl", "input")
        }


def test_cancel_of_a_finished_job_is_200_with_the_job_unchanged(
    local_stack: LocalStack,
) -> None:
    with session(local_stack, "127.0.0.36") as client:
        job = _wait_finished(client, _create_job(client)["id"])
        assert job["status"] == "succeeded"
        assert _used_today(client) == 1
        for _ in range(2):  # and again: idempotent
            canceled = client.post(f"{JOBS}/{job['id']}/cancel")
            assert canceled.status_code == 200, canceled.text
            assert canceled.json()["data"] == job
        assert _used_today(client) == 1  # nothing given back for a job that ran


def test_the_generate_charge_carries_the_seeds_fields_beside_ours(
    local_stack: LocalStack,
) -> None:
    with session(local_stack, "127.0.0.37") as client:
        response = client.post(
            "/api/ai-image/generate",
            data={"model": "@cf/runwayml/stable-diffusion-v1-5-img2img"},
            files={"image": ("a.jpg", jpeg(64, 64), "image/jpeg")},
        )
        assert response.status_code == 200, response.text
        charge = response.json()["data"]["charge"]
        assert charge["images"] == 1
        assert charge["provider"] == "workers_ai"
        assert "costUsd" in charge
        assert (charge["total"], charge["planPortion"], charge["creditsPortion"]) == (1, 1, 0)
