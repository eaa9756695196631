"""The superadmin console's routes (`ai_edits_api.admin_console`) against moto: exact
answers, 401 without a token, 403 for a tenant admin, 4xx for bad input, and dry runs
that change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_edits_api.app import app
from aiimage import aws
from aiimage.edits import admission, request_store
from aiimage.edits.admission import Actor, EditCreate
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import Addon, EditRequest
from aiimage.ops import recover
from aiimage.safety import baseline_terms
from tests.conftest import ORIGIN, TEST_ENV, make_token
from tests.functional.edits_world import COST
from tests.functional.enhancer_support import CSRF

pytestmark = pytest.mark.usefixtures("aws_stack")
ADMIN = "/api/v1/admin"
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/packages", None),
    ("GET", "/ai-editing/blocked-terms", None),
    ("PUT", "/ai-editing/blocked-terms", {"expected_version": 1, "terms": ["x"]}),
    ("POST", "/prompt-preview", {"prompt_template": "a {prompt}"}),
    ("GET", "/tenants/tenant-a/budget", None),
    ("GET", "/tenants/tenant-a/events/party", None),
    ("PUT", "/tenants/tenant-a/events/party/package", {"package_key": "basic"}),
    ("POST", "/ops/recover-stuck", {}),
    ("POST", "/ops/dispatch", {}),
    ("POST", "/ops/prune", {}),
]


def client_with(token: str | None) -> TestClient:
    client = TestClient(app, base_url=ORIGIN)
    if token is not None:
        client.headers["Authorization"] = f"Bearer {token}"
    else:  # past the CSRF check, so that the answer is about the missing token
        client.headers.update({"Origin": ORIGIN, "X-CSRF-Token": CSRF})
        client.cookies.set("csrf_token", CSRF)
    return client


@pytest.fixture
def root(world: None) -> Iterator[TestClient]:
    with client_with(make_token("root", roles=["superadmin"])) as client:
        yield client


def code(response: Any) -> str:
    assert response.json()["success"] is False, response.text
    return str(response.json()["error"]["code"])


def data(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


def snapshot() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for table in (TEST_ENV["EDITS_TABLE"], TEST_ENV["LIMITS_TABLE"]):
        items += aws.dynamodb().scan(TableName=table).get("Items", [])
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def queued_messages(queue: str = "EDITS_QUEUE_URL") -> int:
    attributes = aws.sqs().get_queue_attributes(
        QueueUrl=TEST_ENV[queue], AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_is_for_superadmins_only(
    world: None, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = snapshot()
    with client_with(None) as anonymous:
        response = anonymous.request(method, ADMIN + path, json=body)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["type"] == "auth_error"
    with client_with(make_token("admin-a", tenant_id="tenant-a")) as tenant_admin:
        response = tenant_admin.request(method, ADMIN + path, json=body)
        assert response.status_code == 403, response.text
        assert code(response) == "not_superadmin"
    assert snapshot() == before


def test_the_packages_are_listed_by_key(root: TestClient) -> None:
    assert data(root.get(f"{ADMIN}/packages")) == [
        {"package_key": "basic", "name": "Basic", "features": []},
        {"package_key": "premium", "name": "Premium", "features": ["ai_styling"]},
    ]


def test_blocked_terms_are_read_and_replaced_on_the_settings_version(root: TestClient) -> None:
    path = f"{ADMIN}/ai-editing/blocked-terms"
    assert data(root.get(path)) == {"terms": ["nude"], "platform_default": False, "version": 1}
    saved = root.put(path, json={"expected_version": 1, "terms": [" cat ", "cat", "", "dog"]})
    assert data(saved) == {"terms": ["cat", "dog"], "platform_default": False, "version": 2}
    assert catalog().get_settings().blocked_terms == ("cat", "dog")

    stale = root.put(path, json={"expected_version": 1, "terms": ["mouse"]})
    assert stale.status_code == 409
    assert code(stale) == "settings_conflict"
    assert stale.json()["error"]["details"] == {"expectedVersion": 1, "currentVersion": 2}
    assert catalog().get_settings().blocked_terms == ("cat", "dog")

    reset = data(root.put(path, json={"expected_version": 2, "terms": None}))
    assert reset == {"terms": list(baseline_terms()), "platform_default": True, "version": 3}


@pytest.mark.parametrize(
    "body",
    [
        {"terms": ["x"]},
        {"expected_version": -1, "terms": ["x"]},
        {"expected_version": 1, "terms": "nude"},
        {"expected_version": 1, "terms": ["x"], "extra": 1},
        {"expected_version": 1, "terms": ["x"] * 1001},
    ],
)
def test_bad_blocked_terms_are_refused_and_nothing_changes(
    root: TestClient, body: dict[str, Any]
) -> None:
    response = root.put(f"{ADMIN}/ai-editing/blocked-terms", json=body)
    assert response.status_code == 422
    assert code(response) == "invalid_parameters"
    assert catalog().get_settings().version == 1


def test_the_settings_conflict_names_the_version_it_met(root: TestClient) -> None:
    path = f"{ADMIN}/ai-editing/settings"
    stale = root.put(path, json={"expected_version": 0, "changes": {"is_enabled": False}})
    assert stale.status_code == 409
    assert stale.json()["error"]["details"] == {"expectedVersion": 0, "currentVersion": 1}
    assert catalog().get_settings().is_enabled is True


def test_the_prompt_preview_composes_as_a_request_does_and_stores_nothing(
    root: TestClient,
) -> None:
    before = snapshot()
    path = f"{ADMIN}/prompt-preview"
    slot = {"prompt_template": "a {prompt} watercolor painting", "custom_prompt": " sunset "}
    assert data(root.post(path, json=slot)) == {
        "prompt": "a sunset watercolor painting",
        "negative_prompt": None,
        "blocked_field": None,
    }
    appended = {"prompt_template": "oil painting", "negative_prompt_template": "blurry"}
    assert data(root.post(path, json=appended | {"custom_prompt": "of a cat"})) == {
        "prompt": "oil painting of a cat",
        "negative_prompt": "blurry",
        "blocked_field": None,
    }
    blocked = data(root.post(path, json=slot | {"custom_prompt": "nude beach"}))
    assert blocked["blocked_field"] == "prompt"
    negative = data(root.post(path, json=appended | {"negative_prompt_template": "nude"}))
    assert negative["blocked_field"] == "negative_prompt"
    assert snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"prompt_template": ""},
        {"prompt_template": "x" * 2001},
        {"prompt_template": "a {prompt}", "custom_prompt": "x" * 501},
    ],
)
def test_a_bad_preview_is_refused(root: TestClient, body: dict[str, Any]) -> None:
    response = root.post(f"{ADMIN}/prompt-preview", json=body)
    assert response.status_code == 422
    assert code(response) == "invalid_parameters"


def test_a_tenants_budget_shows_its_caps_and_this_months_spend(
    root: TestClient, guest: TestClient
) -> None:
    path = f"{ADMIN}/tenants/tenant-a/budget"
    month = datetime.now(UTC).strftime("%Y-%m")
    assert data(root.get(path)) == {
        "tenant_id": "tenant-a",
        "name": "tenant-a",
        "budget": {
            "soft_cap_micros": None,
            "hard_cap_micros": 5 * COST,
            "override_until": None,
            "alert_cooldown_minutes": None,
        },
        "usage": {"month": month, "spent_micros": 0, "reserved_micros": 0},
        "alert_cooldown_minutes": 30,  # the deployment's, while the tenant has none
    }
    created = guest.post(
        "/api/v1/events/join-token-aaaa-0001/photos/photo-party/ai-edits",
        json={"style_key": "watercolor"},
    )
    assert created.status_code == 201, created.text
    assert data(root.get(path))["usage"] == {
        "month": month,
        "spent_micros": 0,
        "reserved_micros": COST,
    }
    # The tenant's own cooldown, set with the caps, is the one in effect.
    budget = data(root.get(path))["budget"]
    saved = root.put(path, json={**budget, "alert_cooldown_minutes": 5})
    assert saved.status_code == 200, saved.text
    assert data(root.get(path))["alert_cooldown_minutes"] == 5
    refused = root.put(path, json={**budget, "alert_cooldown_minutes": 0})
    assert refused.status_code == 422
    assert data(root.get(path))["budget"]["alert_cooldown_minutes"] == 5
    assert code(root.get(f"{ADMIN}/tenants/nobody/budget")) == "unknown_tenant"
    assert root.get(f"{ADMIN}/tenants/bad.id/budget").status_code == 422


def test_an_events_access_follows_its_package_and_add_ons(root: TestClient) -> None:
    path = f"{ADMIN}/tenants/tenant-a/events/party"
    shown = data(root.get(path))
    assert {k: shown[k] for k in ("event_id", "name", "package_key", "addons")} == {
        "event_id": "evt-party",
        "name": "party",
        "package_key": "premium",
        "addons": [],
    }
    assert shown["entitlement"] == {"granted": True, "granted_by": "package"}

    moved = data(root.put(f"{path}/package", json={"package_key": "basic"}))
    assert moved["package"] == {"package_key": "basic", "name": "Basic", "features": []}
    assert moved["entitlement"] == {"granted": False, "granted_by": None}
    assert catalog().get_event("tenant-a", "party").package_key == "basic"

    expires = datetime.now(UTC) + timedelta(days=30)
    addon = Addon(
        addon_id="unlock-1",
        event_id="evt-party",
        key="ai_styling_unlock",
        status="completed",
        expires_at=expires,
    )
    granted = root.put(f"{path}/addons/unlock-1", json=addon.model_dump(mode="json"))
    assert granted.status_code == 200, granted.text
    unlocked = data(root.get(path))
    assert unlocked["entitlement"] == {"granted": True, "granted_by": "addon"}
    assert [a["addon_id"] for a in unlocked["addons"]] == ["unlock-1"]

    assert data(root.put(f"{path}/package", json={"package_key": None}))["package_key"] is None


def test_bad_event_reads_and_package_moves_are_refused(root: TestClient) -> None:
    assert code(root.get(f"{ADMIN}/tenants/tenant-a/events/nothing")) == "unknown_event"
    nothing = root.put(f"{ADMIN}/tenants/tenant-a/events/nothing/package", json={})
    assert (nothing.status_code, code(nothing)) == (404, "unknown_event")
    for body in ({"package_key": "bad key"}, {"package_key": ""}, {"package": "basic"}):
        response = root.put(f"{ADMIN}/tenants/tenant-a/events/party/package", json=body)
        assert response.status_code == 422, body
    assert catalog().get_event("tenant-a", "party").package_key == "premium"


# --- operations -------------------------------------------------------------------------


ACTOR = Actor(kind="guest", scope_hash="c" * 32)


def queued_requests(count: int) -> list[EditRequest]:
    event = catalog().get_event("tenant-a", "party")
    return [
        admission.create_edit(ACTOR, event, "photo-party", EditCreate(style_key="watercolor"))
        for _ in range(count)
    ]


class _Later(datetime):
    """`datetime.now()` 31 minutes ahead: the requests look stuck for 30 minutes."""

    @classmethod
    def now(cls, tz: Any = None) -> _Later:
        moment = datetime.now(tz) + timedelta(minutes=31)
        return cls.fromtimestamp(moment.timestamp(), tz)


def test_recover_stuck_lists_first_and_changes_nothing_then_requeues(
    root: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = queued_requests(3)
    assert queued_messages() == 0  # queue_auto_dispatch is off
    path = f"{ADMIN}/ops/recover-stuck"
    fresh = data(root.post(path, json={}))
    assert (fresh["found"], fresh["changed"], fresh["dry_run"]) == (0, 0, True)

    monkeypatch.setattr(recover, "datetime", _Later)
    before = snapshot()
    listed = data(root.post(path, json={"minutes": 30}))
    assert {k: listed[k] for k in ("command", "dry_run", "found", "changed", "verb", "failed")} == {
        "command": "recover-stuck",
        "dry_run": True,
        "found": 3,
        "changed": 3,
        "verb": "listed",
        "failed": 0,
    }
    assert {line.split()[0].rsplit("/", 1)[1] for line in listed["details"]} == {
        r.request_id for r in created
    }
    assert "dry run: nothing changed" in listed["summary"]
    assert snapshot() == before
    assert queued_messages() == 0

    requeued = data(root.post(path, json={"minutes": 30, "mode": "requeue"}))
    assert (requeued["found"], requeued["changed"], requeued["dry_run"]) == (3, 3, False)
    assert queued_messages() == 3
    for request in created:
        assert request_store.load_edit("tenant-a", "party", request.request_id).status == "queued"


def test_dispatch_is_a_dry_run_unless_asked(root: TestClient) -> None:
    queued_requests(2)
    path = f"{ADMIN}/ops/dispatch"
    before = snapshot()
    pretend = data(root.post(path, json={}))
    assert (pretend["found"], pretend["changed"], pretend["dry_run"]) == (2, 0, True)
    assert len(pretend["details"]) == 2
    assert snapshot() == before
    assert queued_messages() == 0

    sent = data(root.post(path, json={"dry_run": False, "limit": 1}))
    assert (sent["found"], sent["changed"], sent["verb"]) == (1, 1, "dispatched")
    assert queued_messages() == 1
    rest = data(root.post(path, json={"dry_run": False}))
    assert (rest["found"], rest["changed"]) == (1, 1)
    assert queued_messages() == 2


def test_prune_from_the_console_only_reports(root: TestClient) -> None:
    queued_requests(1)
    before = snapshot()
    report = data(root.post(f"{ADMIN}/ops/prune", json={"request_days": 1}))
    assert (report["command"], report["dry_run"], report["found"], report["changed"]) == (
        "prune",
        True,
        0,
        0,
    )
    assert report["note"] == (
        "0 requests older than 1 days (0 stored images), 0 ledger lines older than 365 days"
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/ops/prune", {"dry_run": False}),
        ("/ops/prune", {"request_days": 0}),
        ("/ops/recover-stuck", {"minutes": 0}),
        ("/ops/recover-stuck", {"mode": "delete"}),
        ("/ops/dispatch", {"limit": 0}),
        ("/ops/dispatch", {"limit": 1001}),
        ("/ops/dispatch", {"dry_run": "maybe"}),
    ],
)
def test_bad_operation_requests_are_refused(
    root: TestClient, path: str, body: dict[str, Any]
) -> None:
    queued_requests(1)
    before = snapshot()
    response = root.post(ADMIN + path, json=body)
    assert response.status_code == 422, response.text
    assert code(response) == "invalid_parameters"
    assert snapshot() == before
