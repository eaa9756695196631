"""Every kind of stored AI result is marked (issue 21): a synchronous Enhancer generate, an
Enhancer job on its worker, a Magic Edit on the edit workers. Each stored object is read
back with the SDK's reader (`c2pa.Reader`, through `aiimage.imaging.provenance.read`) under
the run's test CA; its actions, digital source type and ingredient hash are checked, it
names no owner, and one changed byte fails it. Delivery serves the signed bytes, and
`GET /api/ai-image/provenance` shows the manifest to the owner only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ai_edits_api.app import app as edits_app
from aiimage import aws
from aiimage.imaging import provenance
from aiimage.imaging.provenance import COMPOSITE, ManifestReport
from aiimage.storage.keys import parse_key
from aiimage.storage.objects import object_store
from delivery_api.app import app as delivery_app
from generate_api.app import app as generate_app
from infra.seed_edits import DemoCatalog, seed_demo
from infra.signing import LocalSigning, local_signing
from jobs_api.app import app as jobs_app
from tests.conftest import TEST_ENV, make_token
from tests.functional.enhancer_support import browser, bucket_keys, jpeg
from usage_api.app import app as usage_app

SD15 = "@cf/runwayml/stable-diffusion-v1-5-img2img"
ESRGAN = "nightmareai/real-esrgan"
PROVENANCE = "/api/ai-image/provenance"


def verified(data: bytes, signing: LocalSigning) -> ManifestReport:
    report = provenance.read(data, "image/webp", trust_anchors=signing.ca_pem)
    assert report.validation_state == "Trusted", report.failures
    assert report.failures == []
    return report


def check_marked(
    data: bytes,
    signing: LocalSigning,
    *,
    original: bytes,
    model: str,
    provider: str,
    personal: list[str],
    watermarked: bool = False,
) -> None:
    report = verified(data, signing)
    assert report.manifest is not None
    (actions,) = [
        a["data"]["actions"]
        for a in report.manifest["assertions"]
        if a["label"] == "c2pa.actions.v2"
    ]
    expected = ["c2pa.opened", "c2pa.edited"] + (
        ["c2pa.watermarked.unbound"] if watermarked else []
    )
    assert [a["action"] for a in actions] == expected
    assert actions[1]["digitalSourceType"] == COMPOSITE
    assert actions[1]["softwareAgent"] == {"name": model, "org.aiimage.provider": provider}
    (ingredient,) = report.manifest["ingredients"]
    digest = hashlib.sha256(original).hexdigest()
    assert ingredient["instance_id"] == f"sha256:{digest}"
    assert ingredient["metadata"]["org.aiimage.hash"]["hash"] == digest
    assert f'DigitalSourceType="{COMPOSITE}"'.encode() in data
    # No owner, guest or user id anywhere: not in the manifest, not in the file.
    manifest_json = json.dumps(report.manifest)
    for value in personal:
        assert value not in manifest_json
        assert value.encode() not in data
    tampered = bytearray(data)
    tampered[len(tampered) // 3] ^= 0x01  # inside the picture, which the hash covers
    assert provenance.read(bytes(tampered), "image/webp").validation_state == "Invalid"


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> DemoCatalog:
    from aiimage.edits import runner

    monkeypatch.setattr(runner, "poll_delay", lambda attempt: 0)
    return seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])


@pytest.fixture
def guest() -> Iterator[TestClient]:
    with browser(generate_app) as client:
        yield client


@pytest.mark.usefixtures("aws_stack")
def test_a_generated_result_is_signed_delivered_signed_and_explained_to_its_owner(
    guest: TestClient, c2pa_signing: LocalSigning
) -> None:
    photo = jpeg(80, 60)
    response = guest.post(
        "/api/ai-image/generate",
        data={"model": SD15},
        files={"image": ("a.jpg", photo, "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    result_key = parse_key(data["imageUrl"].split("/r2-ai/", 1)[1])
    original = object_store().read(data["originalUrl"].split("/r2-ai/", 1)[1])
    stored = object_store().read(result_key)
    check_marked(
        stored,
        c2pa_signing,
        original=original,
        model=SD15,
        provider="local",
        personal=[result_key.owner_id, guest.cookies["guest_id"]],
    )
    path = data["imageUrl"].removeprefix("https://app.test")
    with TestClient(delivery_app, base_url="https://app.test") as owner:
        owner.cookies.set("guest_id", guest.cookies["guest_id"])
        delivered = owner.get(path)
        assert delivered.status_code == 200
        assert delivered.content == stored  # the signed bytes, as stored
        shown = owner.get(PROVENANCE, params={"url": data["imageUrl"]})
        assert shown.status_code == 200, shown.text
        view = shown.json()["data"]
        # Without the operator's trust list the local CA is valid but not trusted.
        assert view["validationState"] == "Valid"
        assert view["failures"] == ["signingCredential.untrusted"]
        assert view["key"] == str(result_key)
        assert view["manifest"]["ingredients"][0]["instance_id"] == (
            "sha256:" + hashlib.sha256(original).hexdigest()
        )
        assert owner.get(PROVENANCE, params={"url": path}).status_code == 200
        # The original is no AI result: nothing to show, the same answer as a stranger's.
        assert owner.get(PROVENANCE, params={"url": data["originalUrl"]}).status_code == 404
        bad = owner.get(PROVENANCE, params={"url": "https://evil.test/elsewhere/x.webp"})
        assert bad.status_code == 400
        assert bad.json()["error"]["type"] == "validation_error"
        assert owner.get(PROVENANCE).status_code in (400, 422)
    with TestClient(delivery_app, base_url="https://app.test") as stranger:
        refused = stranger.get(PROVENANCE, params={"url": data["imageUrl"]})
        assert refused.status_code == 404
        assert refused.json()["error"]["type"] == "not_found"


@pytest.mark.usefixtures("aws_stack")
def test_a_job_result_is_signed_by_the_worker(c2pa_signing: LocalSigning) -> None:
    from tests.functional.test_jobs import run_worker

    photo = jpeg(64, 48)
    with browser(jobs_app) as client:
        created = client.post(
            "/api/ai-image/jobs",
            data={"model": ESRGAN, "scale": "2"},
            files={"image": ("a.jpg", photo, "image/jpeg")},
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["data"]["job"]["id"]
        assert run_worker()["batchItemFailures"] == []
        done = client.get(f"/api/ai-image/jobs/{job_id}").json()["data"]
        guest_cookie = client.cookies["guest_id"]
    assert done["status"] == "succeeded"
    result_key = parse_key(done["imageUrl"].split("/r2-ai/", 1)[1])
    original = object_store().read(done["originalUrl"].split("/r2-ai/", 1)[1])
    check_marked(
        object_store().read(result_key),
        c2pa_signing,
        original=original,
        model=ESRGAN,
        provider="local",
        personal=[result_key.owner_id, guest_cookie],
    )


@pytest.mark.usefixtures("aws_server")
def test_a_magic_edit_is_signed_with_its_watermark_and_no_guest(
    demo: DemoCatalog, c2pa_signing: LocalSigning
) -> None:
    from aiimage.edits.catalog_store import catalog
    from aiimage.edits.photos import published_key
    from tests.functional.test_edit_workers import ACTOR, create, drain, load

    request_id = create(demo, prompt="a private wish of the guest")
    drain()
    done = load(demo, request_id)
    assert done.status == "succeeded"
    assert done.result_key is not None
    stored = aws.s3().get_object(Bucket=TEST_ENV["IMAGES_BUCKET"], Key=done.result_key)
    result = stored["Body"].read()
    photo = catalog().get_photo(demo.tenant_id, demo.event_slug, demo.photo_id)
    original = object_store().read(published_key(photo))
    check_marked(
        result,
        c2pa_signing,
        original=original,
        model=done.provider_model,
        provider=done.provider,
        personal=[ACTOR.scope_hash, done.requested_by, "a private wish of the guest"],
        watermarked=True,
    )
    # Its download serves the same signed bytes.
    with TestClient(edits_app, base_url="https://app.test") as tenant:
        tenant.headers["Authorization"] = f"Bearer {make_token('admin', tenant_id=demo.tenant_id)}"
        path = f"/api/v1/tenant/events/{demo.event_slug}/ai-edits/{request_id}/result"
        downloaded = tenant.get(path)
    assert downloaded.status_code == 200
    assert downloaded.content == result


@pytest.mark.usefixtures("aws_stack")
def test_generate_without_signing_material_fails_closed_before_anything_is_stored_or_charged(
    guest: TestClient, settings_env: Callable[..., None]
) -> None:
    settings_env(C2PA_SIGNING_BUNDLE="")
    response = guest.post(
        "/api/ai-image/generate",
        data={"model": SD15},
        files={"image": ("a.jpg", jpeg(), "image/jpeg")},
    )
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert bucket_keys() == []
    with TestClient(usage_app, base_url="https://app.test") as usage:
        usage.cookies.update(guest.cookies)
        assert usage.get("/api/ai-image/usage").json()["data"]["usage"]["used"] == 0


@pytest.mark.usefixtures("aws_stack")
def test_a_job_with_an_expired_certificate_fails_refunded_without_a_provider_call(
    settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiimage.enhancer import runner
    from tests.functional.test_jobs import run_worker

    expired = local_signing(valid_for=timedelta(days=1), now=datetime.now(UTC) - timedelta(days=3))
    with browser(jobs_app) as client:
        created = client.post(
            "/api/ai-image/jobs",
            data={"model": ESRGAN, "scale": "2"},
            files={"image": ("a.jpg", jpeg(), "image/jpeg")},
        )
        job_id = created.json()["data"]["job"]["id"]
        settings_env(C2PA_SIGNING_BUNDLE=expired.bundle)
        calls: list[object] = []
        monkeypatch.setattr(runner, "dispatch", lambda *a, **k: calls.append(a))
        for _ in range(5):  # redelivered until its last receive, then failed
            run_worker()
        done = client.get(f"/api/ai-image/jobs/{job_id}").json()["data"]
    assert calls == []
    assert done["status"] == "failed"
    assert done["imageUrl"] is None
    assert [key for key in bucket_keys() if "/results/" in key] == []


@pytest.mark.usefixtures("aws_server")
def test_an_edit_without_signing_material_fails_before_the_provider_and_releases_its_budget(
    demo: DemoCatalog, settings_env: Callable[..., None]
) -> None:
    from aiimage.edits.budget import budget_store
    from tests.functional.test_edit_workers import create, drain, load

    request_id = create(demo)
    settings_env(C2PA_SIGNING_BUNDLE="")
    drain()
    done = load(demo, request_id)
    assert done.status == "failed"
    assert done.error_code == "misconfigured"
    assert done.result_key is None
    month = budget_store().month_usage(demo.tenant_id)
    assert (month.spent_micros, month.reserved_micros) == (0, 0)
    listed = aws.s3().list_objects_v2(
        Bucket=TEST_ENV["IMAGES_BUCKET"], Prefix=f"events/{demo.event_slug}/ai-edits/"
    )
    assert listed.get("KeyCount", 0) == 0
