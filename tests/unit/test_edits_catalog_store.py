"""The Magic Edits catalog on DynamoDB (moto in-process): key layout, the join-token
transaction, optimistic concurrency of the settings, the settings cache, pagination, seeding."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from PIL import Image

from aiimage import aws
from aiimage.edits import catalog_store as catalog_module
from aiimage.edits.catalog_store import Catalog, catalog
from aiimage.edits.entitlements import entitlement_for_event
from aiimage.edits.models import (
    Addon,
    AiEditingSettings,
    Budget,
    Entitlement,
    Event,
    EventAiEditing,
    Package,
    Photo,
    Style,
    StyleEntitlements,
    Tenant,
    Watermark,
)
from aiimage.errors import NotFoundError, ValidationError
from aiimage.singletons import reset_singletons
from infra.seed_edits import seed_demo

TABLE = "test-edits"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(aws_stack: None, clock: FakeClock) -> Catalog:
    return Catalog(TABLE, cache_seconds=30, clock=clock)


def raw_item(pk: str, sk: str) -> dict[str, Any] | None:
    item = aws.dynamodb().get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    return item.get("Item")


def all_items() -> list[dict[str, Any]]:
    return aws.dynamodb().scan(TableName=TABLE)["Items"]


def event(slug: str = "party", token: str = "join-token-0001", **changes: Any) -> Event:  # noqa: S107
    values: dict[str, Any] = {
        "event_id": f"evt-{slug}",
        "tenant_id": "t1",
        "slug": slug,
        "join_token": token,
        "name": slug.title(),
        **changes,
    }
    return Event(**values)


def style(key: str, **changes: Any) -> Style:
    values: dict[str, Any] = {
        "key": key,
        "name": key.title(),
        "provider": "local",
        "provider_model": "style:dream",
        "prompt_template": "a {prompt}",
        "cost_estimate_micros": 20_000,
        **changes,
    }
    return Style(**values)


# --- settings ---------------------------------------------------------------------------------


def test_settings_default_until_first_update(store: Catalog) -> None:
    assert store.get_settings() == AiEditingSettings()
    assert raw_item("settings", "ai_editing") is None


def test_update_settings_bumps_version_and_keeps_other_fields(store: Catalog) -> None:
    first = store.update_settings(
        {"is_enabled": False, "blocked_terms": ["nsfw", "gore"]}, expected_version=0
    )
    assert first.version == 1
    assert first.is_enabled is False
    assert first.blocked_terms == ("nsfw", "gore")
    second = store.update_settings({"queue_max_polls": 12}, expected_version=1)
    assert second.version == 2
    assert second.queue_max_polls == 12
    assert second.blocked_terms == ("nsfw", "gore")  # untouched by the second update
    assert store.get_settings() == second
    assert raw_item("settings", "ai_editing") is not None


def test_update_settings_can_clear_an_optional_field(store: Catalog) -> None:
    store.update_settings({"fallback_provider": "replicate"}, expected_version=0)
    cleared = store.update_settings({"fallback_provider": None}, expected_version=1)
    assert cleared.fallback_provider is None
    assert store.get_settings().fallback_provider is None


def test_stale_version_is_a_conflict(store: Catalog) -> None:
    store.update_settings({"is_enabled": False}, expected_version=0)
    with pytest.raises(ValidationError) as caught:
        store.update_settings({"is_enabled": True}, expected_version=0)
    assert caught.value.code == "settings_conflict"
    assert caught.value.status == 409
    with pytest.raises(ValidationError, match="changed meanwhile"):
        store.update_settings({"is_enabled": True}, expected_version=5)
    assert store.get_settings().is_enabled is False


def test_bad_settings_are_validation_errors(store: Catalog) -> None:
    bad: list[dict[str, Any]] = [
        {"queue_max_polls": 0},
        {"queue_max_polls": "many"},
        {"default_provider": "midjourney"},
        {"runware_mode": "maybe"},
        {"blocked_terms": "nsfw"},
        {"no_such_field": 1},
        {"version": 9},
    ]
    for changes in bad:
        with pytest.raises(ValidationError) as caught:
            store.update_settings(changes, expected_version=0)
        assert caught.value.code == "invalid_settings", changes
        assert caught.value.status == 400
    assert raw_item("settings", "ai_editing") is None


def test_negative_expected_version_is_refused(store: Catalog) -> None:
    with pytest.raises(ValidationError):
        store.update_settings({"is_enabled": False}, expected_version=-1)


def test_two_updates_of_one_version_exactly_one_wins(store: Catalog) -> None:
    store.update_settings({"queue_max_polls": 5}, expected_version=0)
    store.update_settings({"queue_max_polls": 6}, expected_version=1)
    with pytest.raises(ValidationError):
        store.update_settings({"queue_max_polls": 7}, expected_version=1)
    assert store.get_settings().queue_max_polls == 6


def test_twenty_concurrent_updates_exactly_one_wins(store: Catalog) -> None:
    store.update_settings({"queue_max_polls": 1}, expected_version=0)
    barrier = threading.Barrier(20)
    wins: list[int] = []
    conflicts: list[str] = []
    lock = threading.Lock()

    def update(n: int) -> None:
        barrier.wait()
        try:
            store.update_settings({"queue_max_polls": 100 + n}, expected_version=1)
        except ValidationError as exc:
            with lock:
                conflicts.append(exc.code)
        else:
            with lock:
                wins.append(n)

    threads = [threading.Thread(target=update, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert conflicts == ["settings_conflict"] * 19
    stored = store.get_settings()
    assert stored.version == 2
    assert stored.queue_max_polls == 100 + wins[0]


# --- the settings cache -----------------------------------------------------------------------


def write_settings_elsewhere(changes: dict[str, Any], version: int) -> None:
    """Another process's update: this process's cache does not hear of it."""
    Catalog(TABLE).update_settings(changes, expected_version=version)


def test_cached_settings_are_stale_within_ttl(store: Catalog, clock: FakeClock) -> None:
    assert store.cached_settings().is_enabled is True
    write_settings_elsewhere({"is_enabled": False}, 0)
    clock.now += 29.9
    assert store.cached_settings().is_enabled is True
    clock.now += 0.1
    assert store.cached_settings().is_enabled is False


def test_update_in_same_process_invalidates_at_once(store: Catalog) -> None:
    assert store.cached_settings().is_enabled is True
    store.update_settings({"is_enabled": False}, expected_version=0)
    assert store.cached_settings().is_enabled is False


def test_failed_update_invalidates_too(store: Catalog) -> None:
    assert store.cached_settings().version == 0
    write_settings_elsewhere({"is_enabled": False}, 0)
    with pytest.raises(ValidationError):
        store.update_settings({"is_enabled": True}, expected_version=0)
    assert store.cached_settings().version == 1


def test_explicit_invalidation(store: Catalog) -> None:
    store.cached_settings()
    write_settings_elsewhere({"status_message": "maintenance"}, 0)
    store.invalidate_settings_cache()
    assert store.cached_settings().status_message == "maintenance"


def test_zero_ttl_disables_the_cache(aws_stack: None, clock: FakeClock) -> None:
    store = Catalog(TABLE, cache_seconds=0, clock=clock)
    store.cached_settings()
    write_settings_elsewhere({"is_enabled": False}, 0)
    assert store.cached_settings().is_enabled is False


def test_a_new_client_is_a_cache_miss(store: Catalog) -> None:
    store.cached_settings()
    write_settings_elsewhere({"is_enabled": False}, 0)
    reset_singletons()  # what the test fixtures do between moto backends
    assert store.cached_settings().is_enabled is False


def test_a_read_older_than_an_update_is_not_cached(store: Catalog) -> None:
    """A fill that began before an invalidation must not store its older answer."""
    original = store.get_settings

    def slow_read() -> AiEditingSettings:
        answer = original()
        write_settings_elsewhere({"is_enabled": False}, answer.version)
        store.invalidate_settings_cache()  # the update "in this process" lands mid-read
        return answer

    store.get_settings = slow_read  # type: ignore[method-assign]
    assert store.cached_settings().is_enabled is True
    store.get_settings = original  # type: ignore[method-assign]
    assert store.cached_settings().is_enabled is False


def test_catalog_is_process_wide(aws_stack: None) -> None:
    catalog.cache_clear()
    try:
        assert catalog() is catalog()
        assert catalog().table == TABLE
    finally:
        catalog.cache_clear()


# --- tenants ----------------------------------------------------------------------------------


def test_tenant_round_trip_and_budget(store: Catalog) -> None:
    tenant = Tenant(tenant_id="t1", name="Acme", budget=Budget(soft_cap_micros=5))
    store.put_tenant(tenant)
    assert raw_item("tenant#t1", "tenant") is not None
    assert store.get_tenant("t1") == tenant
    override = datetime(2025, 7, 1, 14, 0, tzinfo=UTC)
    budget = Budget(soft_cap_micros=1_000, hard_cap_micros=2_000, override_until=override)
    updated = store.update_budget("t1", budget)
    assert updated == Tenant(tenant_id="t1", name="Acme", budget=budget)
    assert store.get_tenant("t1").budget.override_until == override
    stored = raw_item("tenant#t1", "tenant")
    assert stored is not None
    assert stored["budget"]["M"]["override_until"] == {"S": "2025-07-01T14:00:00+00:00"}


def test_datetimes_are_stored_in_utc(store: Catalog) -> None:
    local = datetime(2025, 7, 1, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    store.put_tenant(Tenant(tenant_id="t1", name="A", budget=Budget(override_until=local)))
    stored = raw_item("tenant#t1", "tenant")
    assert stored is not None
    assert stored["budget"]["M"]["override_until"] == {"S": "2025-07-01T14:00:00+00:00"}
    assert store.get_tenant("t1").budget.override_until == local  # the same instant


def test_unknown_tenant(store: Catalog) -> None:
    for tenant_id in ["nope", "a#b", "", "x" * 200]:
        with pytest.raises(NotFoundError) as caught:
            store.get_tenant(tenant_id)
        assert caught.value.code == "unknown_tenant"
        with pytest.raises(NotFoundError) as caught:
            store.update_budget(tenant_id, Budget())
        assert caught.value.code == "unknown_tenant"
    assert all_items() == []  # update_budget never creates a tenant


def test_bad_ids_are_refused_on_write(store: Catalog) -> None:
    with pytest.raises(ValidationError) as caught:
        store.put_tenant(Tenant(tenant_id="t#1", name="x"))
    assert caught.value.code == "invalid_id"
    with pytest.raises(ValidationError):
        store.put_style(style("a b"))
    with pytest.raises(ValidationError):
        store.put_package(Package(package_key="p/1", name="x"))
    with pytest.raises(ValidationError):
        store.create_event(event(slug="a#photo#x"))
    with pytest.raises(ValidationError):
        store.create_event(event(token="short"))
    assert all_items() == []


# --- events and the token alias ---------------------------------------------------------------


def test_create_event_writes_event_and_alias(store: Catalog) -> None:
    created = event(
        ai_editing=EventAiEditing(
            allow_custom_prompt=True,
            allowed_style_keys=("comic",),
            watermark=Watermark(text="Acme", opacity=0.35, position="center"),
        ),
        package_key="premium",
    )
    store.create_event(created)
    assert raw_item("tenant#t1", "event#party") is not None
    alias = raw_item("token#join-token-0001", "event")
    assert alias is not None
    assert alias["pk"] == {"S": "token#join-token-0001"}
    assert alias["event_id"] == {"S": created.event_id}  # a full copy: one read per guest
    assert store.get_event("t1", "party") == created
    assert store.event_by_token("join-token-0001") == created


def test_duplicate_slug_is_refused_and_nothing_half_written(store: Catalog) -> None:
    store.create_event(event())
    before = all_items()
    with pytest.raises(ValidationError) as caught:
        store.create_event(event(token="other-token-0002", name="Copy"))
    assert caught.value.code == "event_exists"
    assert caught.value.details == {"slug_taken": True, "token_taken": False}
    assert raw_item("token#other-token-0002", "event") is None
    assert sorted(map(str, all_items())) == sorted(map(str, before))


def test_duplicate_token_is_refused_and_nothing_half_written(store: Catalog) -> None:
    store.create_event(event())
    with pytest.raises(ValidationError) as caught:
        store.create_event(event(slug="other"))
    assert caught.value.code == "event_exists"
    assert caught.value.details == {"slug_taken": False, "token_taken": True}
    assert raw_item("tenant#t1", "event#other") is None
    assert store.event_by_token("join-token-0001").slug == "party"


def test_unknown_or_malformed_token(store: Catalog) -> None:
    store.create_event(event())
    for token in ["unknown-token-1", "short", "x" * 65, "bad token!", "join-token-0001#x", ""]:
        with pytest.raises(NotFoundError) as caught:
            store.event_by_token(token)
        assert caught.value.code == "unknown_event"


def test_unknown_event(store: Catalog) -> None:
    store.create_event(event())
    for tenant_id, slug in [("t1", "nope"), ("t2", "party"), ("t1", "p#a"), ("t1#x", "party")]:
        with pytest.raises(NotFoundError) as caught:
            store.get_event(tenant_id, slug)
        assert caught.value.code == "unknown_event"


def test_put_event_policy(store: Catalog) -> None:
    store.create_event(event())
    policy = EventAiEditing(enabled=False, policy_message="Closed", allowed_style_keys=("a", "b"))
    updated = store.put_event_policy("t1", "party", policy)
    assert updated.ai_editing == policy
    assert store.event_by_token("join-token-0001").ai_editing == policy
    with pytest.raises(NotFoundError) as caught:
        store.put_event_policy("t1", "missing", policy)
    assert caught.value.code == "unknown_event"
    assert raw_item("tenant#t1", "event#missing") is None


def test_an_alias_without_the_event_copy_is_followed_and_upgraded_by_a_policy_change(
    store: Catalog,
) -> None:
    # Aliases written before they carried the event hold only its address.
    store.create_event(event())
    aws.dynamodb().put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "token#join-token-0001"},
            "sk": {"S": "event"},
            "tenant_id": {"S": "t1"},
            "slug": {"S": "party"},
        },
    )
    assert store.event_by_token("join-token-0001") == store.get_event("t1", "party")
    policy = EventAiEditing(allow_custom_prompt=True)
    store.put_event_policy("t1", "party", policy)
    alias = raw_item("token#join-token-0001", "event")
    assert alias is not None
    assert "event_id" in alias
    assert store.event_by_token("join-token-0001").ai_editing == policy


def test_put_event_package_moves_event_and_alias(store: Catalog) -> None:
    store.create_event(event(package_key="premium"))
    assert store.put_event_package("t1", "party", "basic").package_key == "basic"
    assert store.event_by_token("join-token-0001") == store.get_event("t1", "party")
    assert store.get_event("t1", "party").package_key == "basic"
    store.put_event_package("t1", "party", None)
    assert store.event_by_token("join-token-0001").package_key is None
    assert "package_key" not in (raw_item("tenant#t1", "event#party") or {})
    with pytest.raises(ValidationError):
        store.put_event_package("t1", "party", "a#b")
    with pytest.raises(NotFoundError):
        store.put_event_package("t1", "missing", "basic")


def test_concurrent_changes_lose_nothing_and_leave_event_and_alias_equal(store: Catalog) -> None:
    store.create_event(event(package_key="premium"))
    policies = [EventAiEditing(policy_message=f"m{n}") for n in range(5)]
    packages = [f"pkg{n}" for n in range(5)]
    changes = [("policy", p) for p in policies] + [("package", k) for k in packages]
    barrier = threading.Barrier(len(changes))
    errors: list[BaseException] = []

    def change(kind: str, value: Any) -> None:
        barrier.wait()
        try:
            if kind == "policy":
                store.put_event_policy("t1", "party", value)
            else:
                store.put_event_package("t1", "party", value)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=change, args=c) for c in changes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = store.get_event("t1", "party")
    # Neither kind of change was lost to the other, and the alias is the same event.
    assert stored.ai_editing in policies
    assert stored.package_key in packages
    assert store.event_by_token("join-token-0001") == stored
    assert (raw_item("tenant#t1", "event#party") or {})["revision"] == {"N": str(len(changes))}


# --- packages and add-ons ---------------------------------------------------------------------


def test_packages(store: Catalog) -> None:
    package = Package(package_key="premium", name="Premium", features=("ai_styling", "x"))
    store.put_package(package)
    assert raw_item("package", "premium") is not None
    assert store.get_package("premium") == package
    assert store.get_package("basic") is None
    assert store.get_package("a#b") is None


def test_addons_of_one_event_only(store: Catalog) -> None:
    expires = datetime(2025, 12, 31, tzinfo=UTC)
    mine = [
        Addon(addon_id="a1", event_id="e1", key="ai_styling_unlock", status="completed"),
        Addon(addon_id="a2", event_id="e1", key="other", status="pending", expires_at=expires),
    ]
    for addon in mine:
        store.put_addon("t1", "party", addon)
    # Neighbours that a sloppy prefix would match: slug `party-2`, the event's photos.
    store.put_addon("t1", "party-2", Addon(addon_id="z", event_id="e2", key="k", status="pending"))
    store.put_photo(
        "t1", "party", Photo(photo_id="p1", event_id="e1", object_key="k", uploaded_by="u")
    )
    store.put_addon("t2", "party", Addon(addon_id="y", event_id="e3", key="k", status="pending"))
    assert set(raw_item("tenant#t1", "event#party#addons") or {}) >= {"a_a1", "a_a2"}
    assert store.addons("t1", "party") == mine
    assert store.addons("t1", "nope") == []
    assert store.addons("t1", "a#b") == []


def test_queries_follow_every_page(aws_stack: None) -> None:
    paged = Catalog(TABLE, page_size=2)
    photos = [
        Photo(photo_id=f"p{n:02d}", event_id="e1", object_key=f"k{n}", uploaded_by="u")
        for n in range(7)
    ]
    for photo in photos:
        paged.put_photo("t1", "party", photo)
    styles = [style(f"s{n:02d}") for n in range(5)]
    for item in styles:
        paged.put_style(item)
    calls: list[dict[str, Any]] = []
    client = aws.dynamodb()
    original = client.query

    def counting_query(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(**kwargs)

    client.query = counting_query  # type: ignore[method-assign]
    try:
        assert paged.photos("t1", "party", limit=10) == photos[::-1]  # newest first
        assert len(calls) >= 4
        assert all(call["Limit"] == 2 for call in calls)
        calls.clear()
        assert paged.styles() == styles
        assert len(calls) >= 3
    finally:
        client.query = original  # type: ignore[method-assign]


# --- the check chain's reads ------------------------------------------------------------------


def test_edit_inputs_reads_everything_in_one_batch(store: Catalog) -> None:
    party = event(package_key="premium")
    store.create_event(party)
    store.put_tenant(Tenant(tenant_id="t1", name="Acme"))
    store.put_package(Package(package_key="premium", name="Premium", features=("ai_styling",)))
    store.put_style(style("comic"))
    photo = Photo(photo_id="p1", event_id=party.event_id, object_key="k", uploaded_by="u")
    store.put_photo("t1", "party", photo)
    unlock = Addon(addon_id="a1", event_id=party.event_id, key="x", status="completed")
    store.put_addon("t1", "party", unlock)
    store.put_addon("t1", "party-2", Addon(addon_id="z", event_id="e2", key="k", status="pending"))

    client = aws.dynamodb()
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        inputs = store.edit_inputs(party, "p1", "comic")
    finally:
        client.meta.events.unregister("before-call.dynamodb")
    assert calls == ["BatchGetItem"]
    assert inputs.photo == photo
    assert inputs.style == style("comic")
    assert inputs.package is not None
    assert inputs.package.package_key == "premium"
    assert inputs.tenant is not None
    assert inputs.tenant.tenant_id == "t1"
    assert inputs.addons == [unlock]

    missing = store.edit_inputs(event(slug="party-2", package_key="gone"), "p1", "nope")
    assert (missing.photo, missing.style, missing.package, missing.tenant) == (
        None,
        None,
        None,
        store.get_tenant("t1"),
    )
    assert [a.addon_id for a in missing.addons] == ["z"]
    hostile = store.edit_inputs(party, "p1#x", "a#b")
    assert (hostile.photo, hostile.style) == (None, None)


def test_edit_inputs_asks_again_for_unprocessed_keys(store: Catalog) -> None:
    party = event()
    store.create_event(party)
    store.put_style(style("comic"))
    client = aws.dynamodb()
    original = client.batch_get_item
    answers: list[int] = []

    def throttled_once(**kwargs: Any) -> Any:
        if not answers:  # DynamoDB left every key unprocessed
            answers.append(0)
            return {"Responses": {TABLE: []}, "UnprocessedKeys": kwargs["RequestItems"]}
        answers.append(len(kwargs["RequestItems"][TABLE]["Keys"]))
        return original(**kwargs)

    client.batch_get_item = throttled_once  # type: ignore[method-assign]
    try:
        inputs = store.edit_inputs(party, "p1", "comic")
    finally:
        client.batch_get_item = original  # type: ignore[method-assign]
    # Settings, tenant, add-ons, photo, style: asked again, all of them.
    assert answers == [0, 5]
    assert inputs.style == style("comic")


# --- photos -----------------------------------------------------------------------------------


def test_photos(store: Catalog) -> None:
    photo = Photo(
        photo_id="p-1_x", event_id="e1", object_key="events/party/photos/p.jpg", uploaded_by="g"
    )
    store.put_photo("t1", "party", photo)
    assert raw_item("tenant#t1", "event#party#photo#p-1_x") is not None
    assert store.get_photo("t1", "party", "p-1_x") == photo
    with pytest.raises(ValidationError):
        store.put_photo("t1", "party", photo.model_copy(update={"photo_id": "../x"}))


def test_unknown_photo(store: Catalog) -> None:
    photo = Photo(photo_id="p-1", event_id="e", object_key="k", uploaded_by="u")
    store.put_photo("t1", "party", photo)
    for tenant_id, slug, photo_id in [
        ("t1", "party", "p-2"),
        ("t1", "other", "p-1"),
        ("t2", "party", "p-1"),
        ("t1", "party", "../p-1"),
        ("t1", "party", "p-1#x"),
        ("t1", "party", ""),
        ("t1", "party", "p" * 129),
    ]:
        with pytest.raises(NotFoundError) as caught:
            store.get_photo(tenant_id, slug, photo_id)
        assert caught.value.code == "unknown_photo"
    assert store.get_photo("t1", "party", "p-1") == photo


# --- styles -----------------------------------------------------------------------------------


def test_styles(store: Catalog) -> None:
    premium = style(
        "oil",
        is_premium=True,
        negative_prompt_template="blurry",
        entitlements=StyleEntitlements(required_feature="premium_styles"),
    )
    inactive = style("b-old", is_active=False)
    plain = style("a-comic")
    for item in (premium, inactive, plain):
        store.put_style(item)
    assert raw_item("style", "oil") is not None
    assert store.get_style("oil") == premium
    assert store.styles() == [plain, premium]
    assert store.styles(active_only=False) == [plain, inactive, premium]


def test_unknown_style(store: Catalog) -> None:
    store.put_style(style("comic"))
    for key in ["missing", "a#b", "", "comic#"]:
        with pytest.raises(NotFoundError) as caught:
            store.get_style(key)
        assert caught.value.code == "unknown_style"


def test_unknown_attributes_are_ignored_on_read(store: Catalog) -> None:
    """A newer writer's extra attribute must not break older readers (extra=forbid)."""
    store.put_style(style("comic"))
    aws.dynamodb().update_item(
        TableName=TABLE,
        Key={"pk": {"S": "style"}, "sk": {"S": "comic"}},
        UpdateExpression="SET sort_order = :n",
        ExpressionAttributeValues={":n": {"N": "3"}},
    )
    assert store.get_style("comic") == style("comic")


# --- entitlement through the catalog ----------------------------------------------------------


def test_entitlement_for_event(aws_stack: None) -> None:
    catalog.cache_clear()
    try:
        store = catalog()
        store.put_package(Package(package_key="premium", name="P", features=("ai_styling",)))
        store.create_event(event("a", "token-a-000001", package_key="premium"))
        store.create_event(event("b", "token-b-000001"))
        store.create_event(event("c", "token-c-000001"))
        store.put_addon(
            "t1",
            "b",
            Addon(addon_id="u", event_id="evt-b", key="ai_styling_unlock", status="completed"),
        )
        assert entitlement_for_event("t1", "a", now=NOW) == Entitlement(
            granted=True, granted_by="package"
        )
        assert entitlement_for_event("t1", "b", now=NOW) == Entitlement(
            granted=True, granted_by="addon"
        )
        assert entitlement_for_event("t1", "c", now=NOW) == Entitlement(granted=False)
        with pytest.raises(NotFoundError):
            entitlement_for_event("t1", "zzz", now=NOW)
    finally:
        catalog.cache_clear()


# --- seeding ----------------------------------------------------------------------------------


def test_seed_demo_twice(aws_stack: None) -> None:
    bucket = "test-images"
    store = Catalog(TABLE)
    first = seed_demo(bucket=bucket, store=store)
    second = seed_demo(bucket=bucket, store=store)
    assert first == second

    settings = store.get_settings()
    assert settings.is_enabled
    assert settings.queue_auto_dispatch
    assert settings.default_provider == "local"
    assert settings.version == 2

    tenant = store.get_tenant(first.tenant_id)
    assert tenant.budget.soft_cap_micros == 5_000_000
    assert tenant.budget.hard_cap_micros == 20_000_000

    summer = store.event_by_token(first.join_token)
    assert (summer.slug, summer.package_key) == ("summer-party", "premium")
    assert summer.ai_editing.allow_custom_prompt is True
    package = store.get_package(first.package_key)
    assert package is not None
    assert "ai_styling" in package.features
    assert store.styles() == [store.get_style(key) for key in sorted(first.style_keys)]
    assert len(first.style_keys) == 4
    assert any(s.is_premium for s in store.styles())

    winter = store.event_by_token(first.addon_join_token)
    assert winter.package_key is None
    assert [a.key for a in store.addons(winter.tenant_id, winter.slug)] == ["ai_styling_unlock"]

    catalog_module.catalog.cache_clear()
    try:
        assert entitlement_for_event(first.tenant_id, summer.slug, now=NOW).granted_by == "package"
        assert entitlement_for_event(first.tenant_id, winter.slug, now=NOW).granted_by == "addon"
    finally:
        catalog_module.catalog.cache_clear()

    for slug, photo_id in ((summer.slug, first.photo_id), (winter.slug, first.addon_photo_id)):
        photo = store.get_photo(first.tenant_id, slug, photo_id)
        assert photo.object_key == f"events/{slug}/photos/{photo_id}.jpg"
        body = aws.s3().get_object(Bucket=bucket, Key=photo.object_key)["Body"].read()
        image = Image.open(io.BytesIO(body))
        assert image.format == "JPEG"
        assert image.size == (640, 480)


def test_seeded_styles_exist_in_the_local_provider(aws_stack: None) -> None:
    from aiimage.imaging.enhance import STYLES

    store = Catalog(TABLE)
    demo = seed_demo(bucket="test-images", store=store)
    for key in demo.style_keys:
        seeded = store.get_style(key)
        assert seeded.provider == "local"
        assert seeded.provider_model.removeprefix("style:") in STYLES


def test_edit_inputs_read_the_settings_as_stored_not_as_cached(store: Catalog) -> None:
    party = event()
    store.create_event(party)
    assert store.cached_settings().is_enabled  # cached in this catalog now
    other = Catalog(TABLE)  # another process switches AI editing off
    other.update_settings({"is_enabled": False}, expected_version=store.get_settings().version)
    assert store.cached_settings().is_enabled  # the cache has not heard of it
    assert store.edit_inputs(party, "p1", "comic").settings.is_enabled is False
