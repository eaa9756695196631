"""The Magic Edits world the API tests share: two tenants with one event each, styles and a
package, and a guest browser (`guest`) carrying the CSRF cookie and header."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_edits_api.app import app
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import (
    Budget,
    Event,
    EventAiEditing,
    Package,
    Photo,
    Style,
    StyleEntitlements,
    Tenant,
)
from tests.conftest import ORIGIN
from tests.functional.enhancer_support import CSRF

TOKEN_A = "join-token-aaaa-0001"
TOKEN_B = "join-token-bbbb-0002"
COST = 1_000_000


def style(key: str, **changes: Any) -> Style:
    base = Style(
        key=key,
        name=key.title(),
        provider="local",
        provider_model="style:dream",
        prompt_template="a {prompt} watercolor painting",
        cost_estimate_micros=COST,
    )
    return base.model_copy(update=changes)


@pytest.fixture
def world() -> None:
    store = catalog()
    store.update_settings({"is_enabled": True, "blocked_terms": ["nude"]}, expected_version=0)
    store.put_package(Package(package_key="premium", name="Premium", features=("ai_styling",)))
    store.put_package(Package(package_key="basic", name="Basic", features=()))
    for tenant_id in ("tenant-a", "tenant-b"):
        store.put_tenant(
            Tenant(tenant_id=tenant_id, name=tenant_id, budget=Budget(hard_cap_micros=5 * COST))
        )
    for tenant_id, slug, token in (("tenant-a", "party", TOKEN_A), ("tenant-b", "gala", TOKEN_B)):
        store.create_event(
            Event(
                event_id=f"evt-{slug}",
                tenant_id=tenant_id,
                slug=slug,
                join_token=token,
                name=slug,
                package_key="premium",
                ai_editing=EventAiEditing(allow_custom_prompt=True),
            )
        )
        store.put_photo(
            tenant_id,
            slug,
            Photo(
                photo_id=f"photo-{slug}",
                event_id=f"evt-{slug}",
                object_key=f"events/{slug}/photos/p.jpg",
                uploaded_by="seed",
            ),
        )
    store.put_style(style("watercolor"))
    store.put_style(style("retired", is_active=False))
    store.put_style(
        style("oil", is_premium=True, entitlements=StyleEntitlements(required_feature="oil"))
    )


@pytest.fixture
def guest(world: None) -> Iterator[TestClient]:
    with TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN, "X-CSRF-Token": CSRF}) as c:
        c.cookies.set("csrf_token", CSRF)
        yield c
