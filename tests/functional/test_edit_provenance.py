"""A Magic Edit's C2PA manifest as JSON (issue 21): `GET .../ai-edits/{id}/provenance` for the
guest who asked for it and for the event's tenant admin, the Enhancer's view; 404 for another
guest or tenant. The final prompt is in the manifest only where the event's policy says so
(`include_prompt_in_manifest`); by default it is nowhere in the file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_edits_api.app import app
from aiimage import aws
from aiimage.edits import request_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import EditRequest
from aiimage.edits.photos import published_key
from aiimage.imaging.provenance import COMPOSITE
from aiimage.storage.objects import object_store
from infra.seed_edits import DemoCatalog, seed_demo
from tests.conftest import ORIGIN, TEST_ENV, make_token
from tests.functional.enhancer_support import browser

pytestmark = pytest.mark.usefixtures("aws_server")
PROMPT = "golden hour light over the lake"


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> DemoCatalog:
    from aiimage.edits import runner

    monkeypatch.setattr(runner, "poll_delay", lambda attempt: 0)
    return seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])


@pytest.fixture
def guest() -> Iterator[TestClient]:
    with browser(app) as client:
        yield client


def set_policy(demo: DemoCatalog, **changes: Any) -> None:
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    policy = event.ai_editing.model_copy(update=changes)
    catalog().put_event_policy(demo.tenant_id, demo.event_slug, policy)


def edited(demo: DemoCatalog, guest: TestClient, prompt: str | None = None) -> EditRequest:
    from tests.functional.test_edit_workers import drain

    body: dict[str, Any] = {"style_key": demo.style_keys[0]}
    if prompt is not None:
        body["prompt"] = prompt
    path = f"/api/v1/events/{demo.join_token}/photos/{demo.photo_id}/ai-edits"
    created = guest.post(path, json=body)
    assert created.status_code in (201, 202), created.text
    drain()
    request_id = created.json()["data"]["request_id"]
    done = request_store.load_edit(demo.tenant_id, demo.event_slug, request_id)
    assert done.status == "succeeded", done
    return done


def tenant(tenant_id: str) -> TestClient:
    client = TestClient(app, base_url=ORIGIN)
    client.headers["Authorization"] = f"Bearer {make_token('admin', tenant_id=tenant_id)}"
    return client


def stored_result(done: EditRequest) -> bytes:
    assert done.result_key is not None
    body: bytes = (
        aws.s3().get_object(Bucket=TEST_ENV["IMAGES_BUCKET"], Key=done.result_key)["Body"].read()
    )
    return body


def making(view: dict[str, Any]) -> dict[str, Any]:
    (actions,) = [
        a["data"]["actions"]
        for a in view["manifest"]["assertions"]
        if a["label"] == "c2pa.actions.v2"
    ]
    assert [a["action"] for a in actions] == [
        "c2pa.opened",
        "c2pa.edited",
        "c2pa.watermarked.unbound",
    ]
    found: dict[str, Any] = actions[1]
    return found


def test_the_guest_and_its_tenant_see_the_manifest_and_nobody_else(
    demo: DemoCatalog, guest: TestClient
) -> None:
    done = edited(demo, guest)
    guest_path = f"/api/v1/events/{demo.join_token}/ai-edits/{done.request_id}/provenance"
    tenant_path = f"/api/v1/tenant/events/{demo.event_slug}/ai-edits/{done.request_id}/provenance"
    shown = guest.get(guest_path)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["success"] is True
    view = body["data"]
    assert set(view) == {"key", "validationState", "manifest", "failures"}
    assert view["key"] == done.result_key
    assert view["validationState"] == "Valid"  # the local CA is on no trust list here
    assert view["failures"] == ["signingCredential.untrusted"]
    edit = making(view)
    assert edit["digitalSourceType"] == COMPOSITE
    assert edit["softwareAgent"] == {
        "name": done.provider_model,
        "org.aiimage.provider": done.provider,
    }
    photo = catalog().get_photo(demo.tenant_id, demo.event_slug, demo.photo_id)
    digest = hashlib.sha256(object_store().read(published_key(photo))).hexdigest()
    (ingredient,) = view["manifest"]["ingredients"]
    assert ingredient["instance_id"] == f"sha256:{digest}"
    assert done.requested_by.split(":", 1)[1] not in json.dumps(view)
    with tenant(demo.tenant_id) as admin:
        as_admin = admin.get(tenant_path)
    assert as_admin.status_code == 200, as_admin.text
    assert as_admin.json() == body  # the same view for the event's admin
    with TestClient(app, base_url=ORIGIN) as other_guest:
        refused = other_guest.get(guest_path)
    assert refused.status_code == 404
    assert (refused.json()["error"]["type"], refused.json()["error"]["code"]) == (
        "not_found",
        "unknown_request",
    )
    with tenant("another-tenant") as stranger:
        refused = stranger.get(tenant_path)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "unknown_event"
    missing = guest.get(f"/api/v1/events/{demo.join_token}/ai-edits/{'0' * 32}/provenance")
    assert missing.status_code == 404


def test_an_unfinished_edit_has_no_provenance_yet(demo: DemoCatalog, guest: TestClient) -> None:
    path = f"/api/v1/events/{demo.join_token}/photos/{demo.photo_id}/ai-edits"
    created = guest.post(path, json={"style_key": demo.style_keys[0]})
    request_id = created.json()["data"]["request_id"]
    pending = guest.get(f"/api/v1/events/{demo.join_token}/ai-edits/{request_id}/provenance")
    assert pending.status_code == 404
    assert pending.json()["error"]["code"] == "no_result"


def test_by_default_the_prompt_is_nowhere_in_the_file_nor_the_manifest(
    demo: DemoCatalog, guest: TestClient
) -> None:
    set_policy(demo, allow_custom_prompt=True)
    done = edited(demo, guest, prompt=PROMPT)
    assert done.prompt is not None
    assert PROMPT in done.prompt
    result = stored_result(done)
    assert PROMPT.encode() not in result
    assert done.prompt.encode() not in result
    shown = guest.get(f"/api/v1/events/{demo.join_token}/ai-edits/{done.request_id}/provenance")
    manifest_json = json.dumps(shown.json()["data"]["manifest"])
    assert PROMPT not in manifest_json
    assert "description" not in making(shown.json()["data"])


def test_an_event_that_includes_the_prompt_has_the_final_prompt_in_its_manifest(
    demo: DemoCatalog, guest: TestClient
) -> None:
    set_policy(demo, allow_custom_prompt=True, include_prompt_in_manifest=True)
    done = edited(demo, guest, prompt=PROMPT)
    assert done.prompt is not None
    assert PROMPT in done.prompt
    shown = guest.get(f"/api/v1/events/{demo.join_token}/ai-edits/{done.request_id}/provenance")
    assert shown.status_code == 200
    assert making(shown.json()["data"])["description"] == done.prompt  # the style's + the guest's
    assert shown.json()["data"]["validationState"] == "Valid"
