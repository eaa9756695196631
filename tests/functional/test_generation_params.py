"""Every generation setting reaches the provider on every path: sent as a multipart field,
checked by the model catalog, stored with the job, read back by the worker and put into the
provider request. A setting added to `GenerationParams` without a sample here fails the
first test; one dropped on any path fails the second."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiimage.enhancer import jobs
from aiimage.enhancer.dispatch import build_request
from aiimage.enhancer.model_catalog import CATALOG, stored
from aiimage.providers.base import ImageInput
from aiimage.providers.params import GenerationParams
from jobs_api.app import app as jobs_app
from tests.conftest import make_token
from tests.functional.enhancer_support import jpeg

pytestmark = pytest.mark.usefixtures("aws_stack")
ESRGAN = "nightmareai/real-esrgan"
SD15 = "@cf/runwayml/stable-diffusion-v1-5-img2img"
CODEFORMER = "sczhou/codeformer"

# field: (a model that takes it, the multipart value, the value the provider must get).
# Each value differs from the model's default, so a dropped field cannot pass unnoticed.
SAMPLES: dict[str, tuple[str, str, Any]] = {
    "scale": (ESRGAN, "4", 4),
    "face_enhance": (ESRGAN, "true", True),
    "prompt": (SD15, "a red barn at dusk", "a red barn at dusk"),
    "negative_prompt": (SD15, "blurry", "blurry"),
    "strength": (CODEFORMER, "0.35", 0.35),
    "guidance": (SD15, "9.5", 9.5),
    "steps": (SD15, "12", 12),
}


@pytest.fixture
def pro_user() -> Iterator[TestClient]:
    token = make_token("params-user", plan="pro")
    with TestClient(jobs_app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_every_setting_has_a_sample() -> None:
    assert set(SAMPLES) == set(GenerationParams.model_fields)


@pytest.mark.parametrize("field", sorted(SAMPLES))
def test_a_setting_travels_from_the_form_to_the_provider_request(
    pro_user: TestClient, field: str
) -> None:
    model, sent, expected = SAMPLES[field]
    response = pro_user.post(
        "/api/ai-image/jobs",
        data={"model": model, field: sent},
        files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
    )
    assert response.status_code == 202, response.text
    job = jobs.load("user", "params-user", response.json()["data"]["job"]["id"])
    assert getattr(job.params, field) == expected  # stored with the job, read back typed

    resolved = stored(job.params)  # what the worker runs
    assert resolved.spec is CATALOG[model]
    for route in resolved.spec.routes:
        image = ImageInput(data=b"", content_type="image/jpeg")
        request = build_request(resolved, route, image, wait_seconds=5.0)
        assert getattr(request.params, field) == expected, route.provider
