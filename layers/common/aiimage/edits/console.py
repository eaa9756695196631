"""What the tenant control room reads and changes beyond the seed's routes: the tenant's
events with their capability, an event's policy at a revision (a change is refused with
`event_conflict` if the event changed since the form read it), the tenant's budget caps,
the event's ready photos and a request's timeline.

The events come from index ByListing (`list_pk = tenant#T#events`, written with each event
item): one Query by key, never a read of the tenant partition, which holds every request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiimage import aws, dynamo
from aiimage.edits.catalog_store import catalog
from aiimage.edits.entitlements import resolve_entitlement
from aiimage.edits.models import Budget, Entitlement, Event, EventAiEditing
from aiimage.edits.request_store import LISTING_INDEX, Transition, timeline
from aiimage.errors import AuthError, ForbiddenError, ValidationError
from aiimage.identity import Identity
from aiimage.settings import get_settings

# A tenant's events listed at once: the control room's list is not paged.
MAX_EVENTS = 200


@dataclass(frozen=True, slots=True)
class EventOverview:
    event: Event
    revision: int  # the event's revision: a policy change names it (`update_policy`)
    capability: Entitlement


@dataclass(frozen=True, slots=True)
class PolicyChange:
    enabled: bool
    allow_custom_prompt: bool
    allowed_style_keys: tuple[str, ...]
    policy_message: str | None
    expected_revision: int
    # None: as it is.
    require_photo_approval: bool | None = None
    include_prompt_in_manifest: bool | None = None


def tenant_of(identity: Identity) -> str:
    """The tenant a bearer token acts for (as `access.tenant_event` holds it)."""
    if identity.via != "bearer":
        raise AuthError("Tenant endpoints need a bearer token", code="unauthenticated")
    if identity.tenant_id is None:
        raise ForbiddenError("The token names no tenant", code="not_a_tenant")
    return identity.tenant_id


def _capability(event: Event, now: datetime) -> Entitlement:
    store = catalog()
    package = store.get_package(event.package_key) if event.package_key else None
    return resolve_entitlement(event, package, store.addons(event.tenant_id, event.slug), now=now)


def tenant_events(tenant_id: str) -> list[EventOverview]:
    """The tenant's events by slug, each with whether `ai_styling` is granted, and how."""
    request = {
        "TableName": get_settings().edits_table,
        "IndexName": LISTING_INDEX,
        "KeyConditionExpression": "list_pk = :list",
        "ExpressionAttributeValues": {":list": {"S": f"tenant#{tenant_id}#events"}},
        "Limit": MAX_EVENTS,
    }
    response = aws.dynamodb().query(**request)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    found = []
    for item in response.get("Items", []):
        event = Event.model_validate(
            {name: dynamo.from_attribute(item[name]) for name in Event.model_fields if name in item}
        )
        found.append(EventOverview(event, _revision(item), _capability(event, now)))
    return found


def _revision(item: Mapping[str, Any]) -> int:
    return int(item["revision"]["N"]) if "revision" in item else 0


def overview(event: Event) -> EventOverview:
    """One event with its current revision and capability (a consistent read)."""
    item = (
        aws.dynamodb()
        .get_item(
            TableName=get_settings().edits_table,
            Key={"pk": {"S": f"tenant#{event.tenant_id}"}, "sk": {"S": f"event#{event.slug}"}},
            ConsistentRead=True,
            ProjectionExpression="revision",
        )
        .get("Item", {})
    )
    return EventOverview(event, _revision(item), _capability(event, datetime.now(UTC)))


def budget_of(tenant_id: str) -> Budget:
    return catalog().get_tenant(tenant_id).budget


def update_policy(event: Event, change: PolicyChange) -> EventOverview:
    """Replace the four fields of the seed's event policy, and ours the change names (guest
    limits and watermark stay), if the event is still at `expected_revision`; one
    conditional write. An unknown style
    key is refused (`unknown_style`, 400) before anything is written."""
    _check_styles(change.allowed_style_keys)
    message = (change.policy_message or "").strip() or None
    policy: EventAiEditing = event.ai_editing.model_copy(
        update={
            "enabled": change.enabled,
            "allow_custom_prompt": change.allow_custom_prompt,
            "allowed_style_keys": tuple(dict.fromkeys(change.allowed_style_keys)),
            "policy_message": message,
            # One text for every language: the form edits the one message guests see.
            "policy_messages": {},
        }
        | {
            name: value
            for name, value in (
                ("require_photo_approval", change.require_photo_approval),
                ("include_prompt_in_manifest", change.include_prompt_in_manifest),
            )
            if value is not None
        }
    )
    updated = catalog().put_event_policy(
        event.tenant_id, event.slug, policy, expected_revision=change.expected_revision
    )
    return overview(updated)


def _check_styles(keys: Sequence[str]) -> None:
    known = {style.key for style in catalog().styles(active_only=False)}
    unknown = sorted(set(keys) - known)
    if unknown:
        raise ValidationError(
            "Unknown style keys", code="unknown_style", details={"style_keys": unknown}
        )


def request_timeline(event: Event, request_id: str) -> list[Transition]:
    return timeline(event, request_id)
