"""Who may touch which event and request: a guest through the event's join token, and only
its own requests; a tenant admin only events of the tenant in its token, and every request of
them; a superadmin the settings and the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiimage.edits.abuse import scope_hash
from aiimage.edits.admission import Actor
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import EditRequest, Event
from aiimage.edits.request_store import get_edit, guest_edits
from aiimage.errors import AuthError, ForbiddenError, NotFoundError
from aiimage.identity import Identity
from aiimage.storage.objects import StoredObject, object_store


def guest_event(identity: Identity, token: str) -> tuple[Event, Actor]:
    """The event a join token opens, and the caller as one of its guests (by a keyed hash
    of the guest id and the event, so a guest is a different scope at every event; and of
    its network and the event, the scope every guest behind that network shares)."""
    event = catalog().event_by_token(token)
    network_hash = None
    if identity.network is not None:
        network_hash = scope_hash("network", identity.network, event.event_id)
    actor = Actor(
        kind="guest",
        scope_hash=scope_hash(identity.owner_key, event.event_id),
        network_hash=network_hash,
    )
    return event, actor


@dataclass(frozen=True, slots=True)
class GuestEventView:
    """What a guest link shows of its event: the name and the policy text (by language),
    never the tenant, the package or the limits."""

    token: str
    name: str
    policy_messages: dict[str, str] = field(default_factory=dict)


def event_for_link(token: str) -> GuestEventView:
    """The event a join token opens, as its guests see it; `unknown_event` (404) if none."""
    event = catalog().event_by_token(token)
    policy = event.ai_editing
    messages = dict(policy.policy_messages)
    if policy.policy_message and not messages:
        messages = {"de": policy.policy_message}
    return GuestEventView(token=token, name=event.name, policy_messages=messages)


def own_edits(event: Event, actor: Actor, *, limit: int) -> list[EditRequest]:
    """The guest's own requests of the event, newest first (another guest's never)."""
    return guest_edits(event, actor.requested_by, limit=limit)


def tenant_event(identity: Identity, slug: str) -> tuple[Event, Actor]:
    if identity.via != "bearer":
        raise AuthError("Tenant endpoints need a bearer token", code="unauthenticated")
    if identity.tenant_id is None:
        raise ForbiddenError("The token names no tenant", code="not_a_tenant")
    try:
        event = catalog().get_event(identity.tenant_id, slug)
    except NotFoundError:
        # Another tenant's event is indistinguishable from a missing one.
        raise NotFoundError("No such event", code="unknown_event") from None
    actor = Actor(
        kind="tenant",
        scope_hash=scope_hash(identity.owner_key, event.event_id),
        user_id=identity.owner_id,
    )
    return event, actor


def visible_edit(event: Event, actor: Actor, request_id: str) -> EditRequest:
    """The request of `event` that `actor` asks for, if the actor may see it: a tenant admin
    (already held to its own events) sees every request of the event, a guest only the ones
    it made. Another guest's request is indistinguishable from a missing one."""
    request = get_edit(event, request_id)
    if actor.kind == "guest" and request.requested_by != actor.requested_by:
        raise NotFoundError("No such AI edit", code="unknown_request")
    return request


def visible_result(event: Event, actor: Actor, request_id: str) -> StoredObject:
    """The watermarked result of a request that `actor` may see (`visible_edit`)."""
    request = visible_edit(event, actor, request_id)
    if request.status != "succeeded" or request.result_key is None:
        raise NotFoundError("The edit has no result yet", code="no_result")
    return object_store().get(request.result_key)


def require_superadmin(identity: Identity) -> None:
    if identity.via != "bearer":
        raise AuthError("Admin endpoints need a bearer token", code="unauthenticated")
    if not identity.is_superadmin:
        raise ForbiddenError("Superadmins only", code="not_superadmin")
