"""Who may touch which event: a guest through the event's join token, a tenant admin only
for events of the tenant in its token, a superadmin for the settings and the catalog."""

from __future__ import annotations

from aiimage.edits.abuse import scope_hash
from aiimage.edits.admission import Actor
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import Event
from aiimage.errors import AuthError, ForbiddenError, NotFoundError
from aiimage.identity import Identity


def guest_event(identity: Identity, token: str) -> tuple[Event, Actor]:
    """The event a join token opens, and the caller as one of its guests (by a keyed hash
    of the guest id and the event, so a guest is a different scope at every event)."""
    event = catalog().event_by_token(token)
    return event, Actor(kind="guest", scope_hash=scope_hash(identity.owner_key, event.event_id))


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


def require_superadmin(identity: Identity) -> None:
    if identity.via != "bearer":
        raise AuthError("Admin endpoints need a bearer token", code="unauthenticated")
    if not identity.is_superadmin:
        raise ForbiddenError("Superadmins only", code="not_superadmin")
