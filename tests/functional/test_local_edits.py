"""Magic Edits on the local stack over real HTTP, with the seeded demo tenant and event."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest

from infra.seed_edits import TENANT_ID

if TYPE_CHECKING:
    from tests.plugins.stack import LocalStack

pytestmark = pytest.mark.stack
CSRF = "csrf-token-0123456789abcdef"


def test_a_guest_creates_an_edit_that_its_tenant_sees(local_stack: LocalStack) -> None:
    with httpx.Client(base_url=local_stack.api, trust_env=False, timeout=30) as client:
        token = "demo-join-token-0001"
        styles = client.get(f"/api/v1/events/{token}/ai-styles")
        assert styles.status_code == 200
        keys = [s["key"] for s in styles.json()["data"]]
        assert "watercolor" in keys
        guest = styles.cookies["guest_id"]
        created = client.post(
            f"/api/v1/events/{token}/photos/photo-summer-party-1/ai-edits",
            json={"style_key": "watercolor", "prompt": "golden hour"},
            headers={
                "Origin": local_stack.api,
                "X-CSRF-Token": CSRF,
                "Cookie": f"guest_id={guest}; csrf_token={CSRF}",
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["data"]["status"] == "queued"
        tenant = {"Authorization": f"Bearer {local_stack.tokens['tenant']}"}
        summary = client.get("/api/v1/tenant/events/summer-party/ai-edits/summary", headers=tenant)
        assert summary.status_code == 200
        assert summary.json()["data"]["total"] >= 1
        other = client.get("/api/v1/tenant/events/not-mine/ai-edits", headers=tenant)
        assert other.status_code == 404
        # The demo runs with queue_auto_dispatch: the workers take it to a stored result.
        request_id = created.json()["data"]["request_id"]
        edit = f"/api/v1/tenant/events/summer-party/ai-edits/{request_id}"
        status = "queued"
        for _ in range(100):
            status = client.get(edit, headers=tenant).json()["data"]["status"]
            if status not in ("queued", "processing"):
                break
            time.sleep(0.2)
        assert status == "succeeded"
        assert client.get(edit, headers=tenant).json()["data"]["tenant_id"] == TENANT_ID
        result = client.get(f"{edit}/result", headers=tenant)
        assert result.status_code == 200
        assert result.headers["content-type"] == "image/webp"
