"""The Magic Edits catalog on DynamoDB: global settings, tenants, events (with their join-token
alias), packages, add-ons, photos and styles.

Key layout of EditsTable (`pk`, `sk`; every id is checked against `[A-Za-z0-9_-]` before it
becomes part of a key, so no id can smuggle a `#` and address another item):

| item            | pk                    | sk                                  |
|-----------------|-----------------------|-------------------------------------|
| settings        | `settings`            | `ai_editing`                        |
| package         | `package`             | `{package_key}`                     |
| style           | `style`               | `{style_key}`                       |
| tenant          | `tenant#{tenant_id}`  | `tenant`                            |
| event           | `tenant#{tenant_id}`  | `event#{slug}`                      |
| join-token alias| `token#{join_token}`  | `event` (a copy of the event)       |
| add-ons         | `tenant#{tenant_id}`  | `event#{slug}#addons` (`a_{addon_id}` each) |
| photo           | `tenant#{tenant_id}`  | `event#{slug}#photo#{photo_id}`     |
| open slots      | `tenant#{tenant_id}`  | `event#{slug}#slots#{uploaded_by}` (`s_{photo_id}`) |

An event and its alias are written in one transaction, both conditional on absence, so a
token never points at two events and no half-created event exists. The alias carries a
full copy of the event, so a guest request finds its event with one read; every change of
the event writes both in one transaction, conditional on the event's `revision`. (An alias
written before it carried the copy holds only `tenant_id` and `slug`, and is followed to
the event.) An event's add-ons are attributes of one item, so the check chain of a create
reads them with the photo, the style, the package and the tenant in a single BatchGetItem
(`edit_inputs`).

Photo slots are bounded. An `uploading` photo carries `expires_at` (the table's TTL
attribute): its presigned PUT's lifetime plus `SLOT_COMPLETION_MARGIN_SECONDS`; past it the
photo reads as gone even before DynamoDB's lazy TTL deletes it. A guest's open slots are
attributes of one register item (`s_{photo_id}` = its expiry, `open` = how many): a slot is
taken by ONE conditional UpdateItem (`open < cap`, pruning expired entries in the same
write), and completing (the ready photo replaces the uploading one) or rejecting (deleting)
the photo gives it back. A ready photo has no expiry and carries `gallery_pk`
(`tenant#{tenant_id}#event#{slug}`) and `gallery_sk` (`{ready stamp}#{photo_id}`): the keys
of the sparse index `ReadyPhotos`, the gallery's only read, which never sees an open slot.

The settings carry a `version`: every update is one UpdateItem conditional on the version
the caller last saw. Request paths read the settings through `cached_settings()`: a
per-process cache that lives `edits_settings_cache_seconds` and is dropped at once by an
update in the same process.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic
from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.edits.models import (
    Addon,
    AiEditingSettings,
    Budget,
    Event,
    EventAiEditing,
    Model,
    Package,
    Photo,
    PhotoReview,
    Style,
    Tenant,
)
from aiimage.errors import (
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
    ValidationError,
)
from aiimage.settings import get_settings
from aiimage.singletons import singleton

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef

M = TypeVar("M", bound=Model)

_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")
_SETTINGS_KEY = {"pk": {"S": "settings"}, "sk": {"S": "ai_editing"}}
# Concurrent changes of one event each read, then write on the revision they read.
_CHANGE_ATTEMPTS = 12
# An open slot outlives its presigned PUT by this much: an upload started just before the
# URL expired can still arrive and be completed.
SLOT_COMPLETION_MARGIN_SECONDS = 300
READY_PHOTOS_INDEX = "ReadyPhotos"
_SLOT_PREFIX = "s_"
# A slot claim retries only when a concurrent claim or release changed the register between
# its condition and the entries it read back; each retry follows someone else's success.
_SLOT_ATTEMPTS = 8


# --- (de)serialisation ----------------------------------------------------------------------


def _attributes(model: Model, *, exclude: set[str] | None = None) -> dict[str, Any]:
    return dynamo.to_item(model.model_dump(exclude=exclude))


def _model(cls: type[M], item: Mapping[str, Any]) -> M:
    """Read an item into its model; attributes the model does not know (keys, attributes a
    newer writer added) are ignored rather than failing every read."""
    return cls.model_validate(
        {name: dynamo.from_attribute(item[name]) for name in cls.model_fields if name in item}
    )


def _check_id(value: str, what: str) -> str:
    if not _ID.fullmatch(value):
        raise ValidationError(f"Invalid {what}", code="invalid_id", details={"field": what})
    return value


def _is_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


def _tenant_pk(tenant_id: str) -> dict[str, str]:
    return {"S": f"tenant#{tenant_id}"}


def _event_item(event: Event, *, revision: int | None = None) -> dict[str, Any]:
    item = {"pk": _tenant_pk(event.tenant_id), "sk": {"S": f"event#{event.slug}"}}
    # Index ByListing: the tenant's events, without reading the partition's requests.
    item["list_pk"] = {"S": f"tenant#{event.tenant_id}#events"}
    item |= _attributes(event)
    if revision is not None:  # counts changes after creation: see `_change_event`
        item["revision"] = {"N": str(revision)}
    return item


def _alias_item(event: Event) -> dict[str, Any]:
    return {"pk": {"S": f"token#{event.join_token}"}, "sk": {"S": "event"}, **_attributes(event)}


_ADDON_PREFIX = "a_"


def _addons_key(tenant_id: str, slug: str) -> dict[str, Any]:
    return {"pk": _tenant_pk(tenant_id), "sk": {"S": f"event#{slug}#addons"}}


def _addons(item: Mapping[str, Any] | None) -> list[Addon]:
    """The add-ons of an event's add-ons item, by id."""
    if item is None:
        return []
    return [
        Addon.model_validate(dynamo.from_attribute(item[name]))
        for name in sorted(item)
        if name.startswith(_ADDON_PREFIX)
    ]


@dataclass(frozen=True, slots=True)
class EditInputs:
    """The catalog items a create reads in one round trip; None where there is none."""

    photo: Photo | None
    style: Style | None
    package: Package | None
    tenant: Tenant | None
    addons: list[Addon]
    # The global settings as stored now (not the per-process cache): the kill switch and the
    # term list hold for a create from the moment they are written.
    settings: AiEditingSettings


class UnknownTenantError(NotFoundError):
    default_code = "unknown_tenant"
    default_message = "Unknown tenant"


class UnknownEventError(NotFoundError):
    default_code = "unknown_event"
    default_message = "Unknown event"


class UnknownPhotoError(NotFoundError):
    default_code = "unknown_photo"
    default_message = "Unknown photo"


class PhotoAlreadyReviewedError(ConflictError):
    """409: the photo's review was decided the other way (or it needs none)."""

    default_code = "photo_already_reviewed"
    default_message = "The photo has already been reviewed"


class PhotoAwaitingApprovalError(ConflictError):
    """409: the photo waits for a tenant admin's approval (or was rejected): no edits."""

    default_code = "photo_pending_approval"
    default_message = "The photo is awaiting approval by the event's organiser"


class UnknownStyleError(NotFoundError):
    default_code = "unknown_style"
    default_message = "Unknown style"


class TooManyOpenSlotsError(RateLimitedError):
    """429: the guest has `cap` uploads started and not completed; `Retry-After` says when
    the oldest of them expires (completing one frees a place at once)."""

    default_code = "too_many_open_photo_slots"
    default_message = "Too many photo uploads not completed yet; complete one or wait"


def _photo_key(tenant_id: str, slug: str, photo_id: str) -> dict[str, Any]:
    return {"pk": _tenant_pk(tenant_id), "sk": {"S": f"event#{slug}#photo#{photo_id}"}}


def _slots_key(tenant_id: str, slug: str, uploaded_by: str) -> dict[str, Any]:
    return {"pk": _tenant_pk(tenant_id), "sk": {"S": f"event#{slug}#slots#{uploaded_by}"}}


def _gallery_pk(tenant_id: str, slug: str) -> dict[str, str]:
    return {"S": f"tenant#{tenant_id}#event#{slug}"}


def _slot_lifetime() -> int:
    return get_settings().presigned_url_ttl_seconds + SLOT_COMPLETION_MARGIN_SECONDS


def _slot_expiries(register: Mapping[str, Any]) -> dict[str, int]:
    """The open slots of a register item: photo id → expiry (epoch seconds)."""
    return {
        name.removeprefix(_SLOT_PREFIX): int(value["N"])
        for name, value in register.items()
        if name.startswith(_SLOT_PREFIX)
    }


# --- the settings cache -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cached:
    settings: AiEditingSettings
    expires_at: float
    client: object  # the DynamoDB client it was read with (tests swap moto backends)


class _SettingsCache:
    """One entry per Catalog. A generation counter stops a read that started before an
    update from writing its older answer back after the update invalidated the cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: _Cached | None = None
        self._generation = 0

    def get(self, now: float, client: object) -> AiEditingSettings | None:
        entry = self._entry
        if entry is None or now >= entry.expires_at or entry.client is not client:
            return None
        return entry.settings

    def generation(self) -> int:
        with self._lock:
            return self._generation

    def store(self, generation: int, entry: _Cached) -> None:
        with self._lock:
            if generation == self._generation:
                self._entry = entry

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._entry = None


# --- the repository ---------------------------------------------------------------------------


class Catalog:
    """Typed access to the catalog items of one EditsTable.

    `clock` (monotonic seconds), `wall_clock` (epoch seconds: slot expiry) and
    `cache_seconds` exist for tests; `page_size` sets the Query `Limit`, so pagination can
    be exercised without 1 MB of items.
    """

    def __init__(
        self,
        table: str,
        *,
        cache_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        page_size: int | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.wall_clock = wall_clock
        self._cache_seconds = (
            get_settings().edits_settings_cache_seconds if cache_seconds is None else cache_seconds
        )
        self._clock = clock
        self._page_size = page_size
        self._cache = _SettingsCache()

    @staticmethod
    def _db() -> DynamoDBClient:
        return aws.dynamodb()

    def _get(self, pk: str, sk: str, *, consistent: bool = False) -> dict[str, Any] | None:
        key = {"pk": {"S": pk}, "sk": {"S": sk}}
        response = self._db().get_item(TableName=self.table, Key=key, ConsistentRead=consistent)
        return response.get("Item")

    def _put(self, pk: str, sk: str, model: Model) -> None:
        item = {"pk": {"S": pk}, "sk": {"S": sk}, **_attributes(model)}
        self._db().put_item(TableName=self.table, Item=item)

    def _query(self, pk: str, sk_prefix: str | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a partition (optionally under a sort-key prefix), page by page."""
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if sk_prefix is not None:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": sk_prefix}
        params: QueryInputTypeDef = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if self._page_size is not None:
            params["Limit"] = self._page_size
        return aws.query_items(params)

    # --- settings -----------------------------------------------------------------------------

    def get_settings(self) -> AiEditingSettings:
        """The stored settings, read consistently; defaults until the first update."""
        item = self._get("settings", "ai_editing", consistent=True)
        return AiEditingSettings() if item is None else _model(AiEditingSettings, item)

    def cached_settings(self) -> AiEditingSettings:
        """What request paths read: at most `edits_settings_cache_seconds` old."""
        client = self._db()
        cached = self._cache.get(self._clock(), client)
        if cached is not None:
            return cached
        generation = self._cache.generation()
        settings = self.get_settings()
        if self._cache_seconds > 0:
            expires_at = self._clock() + self._cache_seconds
            self._cache.store(generation, _Cached(settings, expires_at, client))
        return settings

    def invalidate_settings_cache(self) -> None:
        self._cache.invalidate()

    def update_settings(
        self, changes: Mapping[str, Any], *, expected_version: int
    ) -> AiEditingSettings:
        """Apply `changes` if the stored version is still `expected_version` (0: never
        written). One conditional UpdateItem: of two admins saving the same version, exactly
        one wins and the other gets `settings_conflict` and must reload."""
        if "version" in changes:
            raise ValidationError(
                "The version is not writable", code="invalid_settings", details={"field": "version"}
            )
        if expected_version < 0:
            raise ValidationError("Invalid expected version", code="invalid_settings")
        try:
            # Fields have no cross-field rules, so the changes alone validate every value.
            validated = AiEditingSettings.model_validate(dict(changes))
        except pydantic.ValidationError as exc:
            raise ValidationError(
                "Invalid settings",
                code="invalid_settings",
                details={"errors": exc.errors(include_url=False, include_context=False)},
            ) from None
        values = validated.model_dump(include=set(changes))
        names: dict[str, str] = {"#version": "version"}
        attr_values: dict[str, Any] = {
            ":expected": {"N": str(expected_version)},
            ":next": {"N": str(expected_version + 1)},
        }
        assignments = ["#version = :next"]
        for index, (name, value) in enumerate(sorted(values.items())):
            names[f"#f{index}"] = name
            attr_values[f":v{index}"] = dynamo.to_attribute(value)
            assignments.append(f"#f{index} = :v{index}")
        condition = "#version = :expected"
        if expected_version == 0:
            condition = "attribute_not_exists(pk) OR " + condition
        try:
            response = self._db().update_item(
                TableName=self.table,
                Key=_SETTINGS_KEY,
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attr_values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                # The version the write met, so a console can say what it lost to.
                met = exc.response.get("Item")  # ReturnValuesOnConditionCheckFailure
                current = met.get("version", {"N": "0"}) if isinstance(met, Mapping) else {"N": "0"}
                raise ConflictError(
                    "The settings were changed meanwhile; reload and retry",
                    code="settings_conflict",
                    details={
                        "expectedVersion": expected_version,
                        "currentVersion": int(current["N"]),
                    },
                ) from None
            raise
        finally:
            self._cache.invalidate()
        return _model(AiEditingSettings, response["Attributes"])

    # --- tenants ------------------------------------------------------------------------------

    def put_tenant(self, tenant: Tenant) -> None:
        _check_id(tenant.tenant_id, "tenant_id")
        self._put(f"tenant#{tenant.tenant_id}", "tenant", tenant)

    def get_tenant(self, tenant_id: str) -> Tenant:
        item = self._get(f"tenant#{tenant_id}", "tenant") if _is_id(tenant_id) else None
        if item is None:
            raise UnknownTenantError()
        return _model(Tenant, item)

    def update_budget(self, tenant_id: str, budget: Budget) -> Tenant:
        """Replace the tenant's budget; never creates a tenant."""
        if not _is_id(tenant_id):
            raise UnknownTenantError()
        try:
            response = self._db().update_item(
                TableName=self.table,
                Key={"pk": _tenant_pk(tenant_id), "sk": {"S": "tenant"}},
                UpdateExpression="SET budget = :budget",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":budget": {"M": _attributes(budget)}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                raise UnknownTenantError() from None
            raise
        return _model(Tenant, response["Attributes"])

    # --- events -------------------------------------------------------------------------------

    def create_event(self, event: Event) -> None:
        """The event and its join-token alias, atomically; an existing slug or token refuses
        the whole write (`event_exists`)."""
        _check_id(event.tenant_id, "tenant_id")
        _check_id(event.slug, "slug")
        if not _TOKEN.fullmatch(event.join_token):
            raise ValidationError(
                "Invalid join token", code="invalid_id", details={"field": "join_token"}
            )
        event_item = _event_item(event)
        alias_item = _alias_item(event)
        try:
            self._db().transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                    for item in (event_item, alias_item)
                ]
            )
        except ClientError as exc:
            if not dynamo.condition_failed(exc):
                raise
            raise ConflictError(
                "An event with this slug or join token exists",
                code="event_exists",
                details={
                    "slug_taken": dynamo.condition_failed(exc, item=0),
                    "token_taken": dynamo.condition_failed(exc, item=1),
                },
            ) from None

    def get_event(self, tenant_id: str, slug: str) -> Event:
        item = None
        if _is_id(tenant_id) and _is_id(slug):
            item = self._get(f"tenant#{tenant_id}", f"event#{slug}")
        if item is None:
            raise UnknownEventError()
        return _model(Event, item)

    def event_by_token(self, join_token: str) -> Event:
        """The event a guest link addresses; a malformed token is an unknown event too (no
        hint which tokens are well-formed, no key built from arbitrary input)."""
        alias = self._get(f"token#{join_token}", "event") if _TOKEN.fullmatch(join_token) else None
        if alias is None:
            raise UnknownEventError()
        if "event_id" in alias:
            return _model(Event, alias)
        return self.get_event(alias["tenant_id"]["S"], alias["slug"]["S"])

    def put_event_policy(
        self,
        tenant_id: str,
        slug: str,
        policy: EventAiEditing,
        *,
        expected_revision: int | None = None,
    ) -> Event:
        """Replace the event's `ai_editing` policy; never creates an event. With
        `expected_revision`, only if the event is still at that revision (`event_conflict`)."""
        return self._change_event(
            tenant_id, slug, expected_revision=expected_revision, ai_editing=policy
        )

    def put_event_package(self, tenant_id: str, slug: str, package_key: str | None) -> Event:
        """Move the event to another package (an upgrade), or to none; never creates one."""
        if package_key is not None:
            _check_id(package_key, "package_key")
        return self._change_event(tenant_id, slug, package_key=package_key)

    def _change_event(
        self, tenant_id: str, slug: str, *, expected_revision: int | None = None, **changes: Any
    ) -> Event:
        """Apply `changes` to the event and rewrite its alias, in one transaction that holds
        only if the event's `revision` is still the one read: two concurrent changes (of
        the policy and of the package, say) never lose one another, and event and alias
        always end equal. A lost race reads again and reapplies."""
        for attempt in range(_CHANGE_ATTEMPTS):
            item = None
            if _is_id(tenant_id) and _is_id(slug):
                item = self._get(f"tenant#{tenant_id}", f"event#{slug}", consistent=True)
            if item is None:
                raise UnknownEventError()
            revision = int(item["revision"]["N"]) if "revision" in item else 0
            if expected_revision is not None and revision != expected_revision:
                # The write below holds only at this revision: the check is part of it.
                raise ConflictError(
                    "The event changed since it was read",
                    code="event_conflict",
                    details={"revision": revision},
                )
            event = _model(Event, item).model_copy(update=changes)
            condition, values = "attribute_exists(pk) AND attribute_not_exists(revision)", None
            if revision:
                condition, values = "revision = :revision", {":revision": {"N": str(revision)}}
            event_put: dict[str, Any] = {
                "TableName": self.table,
                "Item": _event_item(event, revision=revision + 1),
                "ConditionExpression": condition,
            }
            if values:
                event_put["ExpressionAttributeValues"] = values
            try:
                self._db().transact_write_items(
                    TransactItems=[
                        {"Put": event_put},  # type: ignore[typeddict-item]
                        {"Put": {"TableName": self.table, "Item": _alias_item(event)}},
                    ],
                    ClientRequestToken=str(uuid.uuid4()),
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter
                continue
            return event
        raise ConflictError("The event is being changed concurrently; retry", code="event_conflict")

    # --- packages and add-ons -----------------------------------------------------------------

    def put_package(self, package: Package) -> None:
        self._put("package", _check_id(package.package_key, "package_key"), package)

    def packages(self) -> list[Package]:
        """Every package, ordered by key (one partition: the console's list)."""
        return [_model(Package, item) for item in self._query("package")]

    def get_package(self, key: str) -> Package | None:
        item = self._get("package", key) if _is_id(key) else None
        return None if item is None else _model(Package, item)

    def put_addon(self, tenant_id: str, slug: str, addon: Addon) -> None:
        """Add or replace one add-on of the event (one UpdateItem on its add-ons item)."""
        _check_id(tenant_id, "tenant_id")
        _check_id(slug, "slug")
        _check_id(addon.addon_id, "addon_id")
        self._db().update_item(
            TableName=self.table,
            Key=_addons_key(tenant_id, slug),
            UpdateExpression="SET #addon = :addon",
            ExpressionAttributeNames={"#addon": f"{_ADDON_PREFIX}{addon.addon_id}"},
            ExpressionAttributeValues={":addon": {"M": _attributes(addon)}},
        )

    def addons(self, tenant_id: str, slug: str) -> list[Addon]:
        """Every add-on of the event (any status: entitlement decides what counts)."""
        if not (_is_id(tenant_id) and _is_id(slug)):
            return []
        key = _addons_key(tenant_id, slug)
        return _addons(self._get(key["pk"]["S"], key["sk"]["S"]))

    # --- photos -------------------------------------------------------------------------------

    def put_photo(self, tenant_id: str, slug: str, photo: Photo) -> None:
        """Store a photo. An uploading one expires with its slot; a ready one enters the
        gallery index and, if it replaces its own open slot, gives that slot back."""
        _check_id(tenant_id, "tenant_id")
        _check_id(slug, "slug")
        _check_id(photo.photo_id, "photo_id")
        self._put_photo(tenant_id, slug, photo, int(self.wall_clock()) + _slot_lifetime())

    def _put_photo(self, tenant_id: str, slug: str, photo: Photo, expires_at: int) -> None:
        item = _photo_key(tenant_id, slug, photo.photo_id) | _attributes(photo)
        if photo.status == "ready":
            ready_at = dynamo.stamp(datetime.fromtimestamp(self.wall_clock(), UTC))
            item["gallery_pk"] = _gallery_pk(tenant_id, slug)
            item["gallery_sk"] = {"S": f"{ready_at}#{photo.photo_id}"}
        else:
            item["expires_at"] = {"N": str(expires_at)}
        old = self._db().put_item(TableName=self.table, Item=item, ReturnValues="ALL_OLD")
        if photo.status == "ready":
            self._release_replaced(tenant_id, slug, old.get("Attributes"))

    def open_photo_slot(self, tenant_id: str, slug: str, photo: Photo, *, cap: int) -> None:
        """Store an uploading photo as one of its uploader's at most `cap` open slots, or
        refuse with `TooManyOpenSlotsError` and store nothing. The slot is taken in the
        uploader's register first (one conditional write), then the photo is stored."""
        _check_id(tenant_id, "tenant_id")
        _check_id(slug, "slug")
        _check_id(photo.photo_id, "photo_id")
        now = int(self.wall_clock())
        expires_at = now + _slot_lifetime()
        self._claim_slot(
            _slots_key(tenant_id, slug, photo.uploaded_by), photo, cap, now, expires_at
        )
        try:
            self._put_photo(tenant_id, slug, photo, expires_at)
        except Exception:
            self._release_slot(tenant_id, slug, photo.uploaded_by, photo.photo_id)
            raise

    def _claim_slot(
        self, key: dict[str, Any], photo: Photo, cap: int, now: int, expires_at: int
    ) -> None:
        """One UpdateItem: add the slot if fewer than `cap` are open, removing in the same
        write the entries that a refusal showed expired (each must still be there, so two
        claims never both count the same expired place). A refusal returns the register:
        full of live slots is 429; otherwise another claim or release came between, and
        the next attempt knows the register as it is now."""
        expired: list[str] = []
        for _ in range(_SLOT_ATTEMPTS):
            names = {"#open": "open", "#ttl": "expires_at", "#new": _SLOT_PREFIX + photo.photo_id}
            names |= {f"#x{i}": _SLOT_PREFIX + photo_id for i, photo_id in enumerate(expired)}
            condition = " AND ".join(
                [
                    *(f"attribute_exists(#x{i})" for i in range(len(expired))),
                    "(attribute_not_exists(#open) OR #open < :room)",
                ]
            )
            update = (
                "SET #new = :expires, #ttl = :expires, #open = if_not_exists(#open, :zero) + :delta"
            )
            if expired:
                update += " REMOVE " + ", ".join(f"#x{i}" for i in range(len(expired)))
            try:
                self._db().update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={
                        ":expires": {"N": str(expires_at)},
                        ":room": {"N": str(cap + len(expired))},
                        ":zero": {"N": "0"},
                        ":delta": {"N": str(1 - len(expired))},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return
            except ClientError as exc:
                if not dynamo.condition_failed(exc):
                    raise
                register = exc.response.get("Item")  # ReturnValuesOnConditionCheckFailure
                slots = _slot_expiries(register if isinstance(register, Mapping) else {})
            live = sorted(at for at in slots.values() if at > now)
            if len(live) >= cap:
                raise TooManyOpenSlotsError(live[0] - now)
            expired = [photo_id for photo_id, at in slots.items() if at <= now]
        raise ServiceUnavailableError(
            "Photo uploads are busy; try again shortly",
            code="service_busy",
            headers={"Retry-After": "1"},
        )

    def _release_replaced(self, tenant_id: str, slug: str, old: Mapping[str, Any] | None) -> None:
        """Give back the open slot of `old` (a photo's item before a write), if it was one."""
        if old is not None and old.get("status") == {"S": "uploading"}:
            self._release_slot(tenant_id, slug, old["uploaded_by"]["S"], old["photo_id"]["S"])

    def _release_slot(self, tenant_id: str, slug: str, uploaded_by: str, photo_id: str) -> None:
        """One conditional UpdateItem on the entry: a second completion, or an entry a
        claim already pruned as expired, releases nothing."""
        try:
            self._db().update_item(
                TableName=self.table,
                Key=_slots_key(tenant_id, slug, uploaded_by),
                UpdateExpression="REMOVE #slot SET #open = #open - :one",
                ConditionExpression="attribute_exists(#slot)",
                ExpressionAttributeNames={"#slot": _SLOT_PREFIX + photo_id, "#open": "open"},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        except ClientError as exc:
            if not dynamo.condition_failed(exc):
                raise

    def get_photo(self, tenant_id: str, slug: str, photo_id: str) -> Photo:
        item = None
        if _is_id(tenant_id) and _is_id(slug) and _is_id(photo_id):
            item = self._get(f"tenant#{tenant_id}", f"event#{slug}#photo#{photo_id}")
        photo = self._unexpired(item)
        if photo is None:
            raise UnknownPhotoError()
        return photo

    def _unexpired(self, item: Mapping[str, Any] | None) -> Photo | None:
        """The photo of an item, None for none or for an open slot past its expiry (TTL
        deletion is lazy: DynamoDB may keep an expired item for days)."""
        if item is None:
            return None
        expires_at = item.get("expires_at")
        if expires_at is not None and int(expires_at["N"]) <= self.wall_clock():
            return None
        return _model(Photo, item)

    def photos(self, tenant_id: str, slug: str, *, limit: int) -> list[Photo]:
        """Up to `limit` of the event's ready photos, newest first (the guest gallery). It
        reads the sparse `ReadyPhotos` index: open slots are not in it, so they cost the
        gallery nothing however many there are."""
        if not (_is_id(tenant_id) and _is_id(slug)) or limit < 1:
            return []
        params: QueryInputTypeDef = {
            "TableName": self.table,
            "IndexName": READY_PHOTOS_INDEX,
            "KeyConditionExpression": "gallery_pk = :gallery",
            "ExpressionAttributeValues": {":gallery": _gallery_pk(tenant_id, slug)},
            "ScanIndexForward": False,
            "Limit": min(limit, self._page_size or limit),
        }
        return [_model(Photo, item) for item in islice(aws.query_items(params), limit)]

    def delete_photo(self, tenant_id: str, slug: str, photo_id: str) -> None:
        """Delete a photo's record (a rejected upload); its open slot, if any, is given back."""
        old = self._db().delete_item(
            TableName=self.table, Key=_photo_key(tenant_id, slug, photo_id), ReturnValues="ALL_OLD"
        )
        self._release_replaced(tenant_id, slug, old.get("Attributes"))

    def pending_photos(self, tenant_id: str, slug: str, *, limit: int) -> list[Photo]:
        """Up to `limit` of the event's ready photos awaiting review, newest first (the
        gallery index, filtered to `review = pending`)."""
        if not (_is_id(tenant_id) and _is_id(slug)) or limit < 1:
            return []
        params: QueryInputTypeDef = {
            "TableName": self.table,
            "IndexName": READY_PHOTOS_INDEX,
            "KeyConditionExpression": "gallery_pk = :gallery",
            "FilterExpression": "#review = :pending",
            "ExpressionAttributeNames": {"#review": "review"},
            "ExpressionAttributeValues": {
                ":gallery": _gallery_pk(tenant_id, slug),
                ":pending": {"S": "pending"},
            },
            "ScanIndexForward": False,
        }
        return [_model(Photo, item) for item in islice(aws.query_items(params), limit)]

    def review_photo(
        self, tenant_id: str, slug: str, photo_id: str, decision: PhotoReview
    ) -> tuple[Photo, bool]:
        """Decide a pending photo's review in ONE conditional UpdateItem (`review =
        pending`): of two parallel decisions exactly one is written. The photo and whether
        this call decided it; deciding again the same way changes nothing (idempotent), the
        other way is 409 `photo_already_reviewed`, an unknown photo 404."""
        photo = self.get_photo(tenant_id, slug, photo_id)
        try:
            answer = self._db().update_item(
                TableName=self.table,
                Key=_photo_key(tenant_id, slug, photo_id),
                UpdateExpression="SET #review = :decision",
                ConditionExpression="#review = :pending",
                ExpressionAttributeNames={"#review": "review"},
                ExpressionAttributeValues={
                    ":decision": {"S": decision},
                    ":pending": {"S": "pending"},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not dynamo.condition_failed(exc):
                raise
            old = exc.response.get("Item")
            if isinstance(old, Mapping) and old.get("review") == {"S": decision}:
                return photo.model_copy(update={"review": decision}), False
            if not isinstance(old, Mapping):
                raise UnknownPhotoError() from None
            raise PhotoAlreadyReviewedError() from None
        return _model(Photo, answer["Attributes"]), True

    # --- styles -------------------------------------------------------------------------------

    def put_style(self, style: Style) -> None:
        self._put("style", _check_id(style.key, "style_key"), style)

    def get_style(self, key: str) -> Style:
        item = self._get("style", key) if _is_id(key) else None
        if item is None:
            raise UnknownStyleError()
        return _model(Style, item)

    def styles(self, *, active_only: bool = True) -> list[Style]:
        """All styles ordered by key (the sort key), the inactive ones only on request."""
        styles = [_model(Style, item) for item in self._query("style")]
        return [s for s in styles if s.is_active] if active_only else styles

    # --- the check chain's reads ----------------------------------------------------------

    def edit_inputs(self, event: Event, photo_id: str, style_key: str) -> EditInputs:
        """What a create's check chain needs besides the event, in one BatchGetItem: the
        photo, the style, the event's package, its tenant, its add-ons and the global
        settings. Read consistently: a photo completed a moment ago is `ready`, a kill
        switch written a moment ago holds."""
        wanted: dict[str, tuple[str, str]] = {
            "settings": ("settings", "ai_editing"),
            "tenant": (f"tenant#{event.tenant_id}", "tenant"),
            "addons": (f"tenant#{event.tenant_id}", f"event#{event.slug}#addons"),
        }
        if _is_id(photo_id):
            wanted["photo"] = (f"tenant#{event.tenant_id}", f"event#{event.slug}#photo#{photo_id}")
        if _is_id(style_key):
            wanted["style"] = ("style", style_key)
        if event.package_key and _is_id(event.package_key):
            wanted["package"] = ("package", event.package_key)
        found = self._batch_get(wanted.values())
        item = {name: found.get(key) for name, key in wanted.items()}
        photo, style, tenant = item.get("photo"), item.get("style"), item["tenant"]
        package, settings = item.get("package"), item["settings"]
        return EditInputs(
            photo=self._unexpired(photo),
            style=None if style is None else _model(Style, style),
            package=None if package is None else _model(Package, package),
            tenant=None if tenant is None else _model(Tenant, tenant),
            addons=_addons(item["addons"]),
            settings=_model(AiEditingSettings, settings) if settings else AiEditingSettings(),
        )

    def _batch_get(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Items by (pk, sk), read consistently."""
        wanted = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys]
        items = aws.batch_get_items(self.table, wanted, consistent=True)
        return {(item["pk"]["S"], item["sk"]["S"]): item for item in items}


@singleton
def catalog() -> Catalog:
    """The process-wide Catalog: its settings cache is shared by every request of a warm
    Lambda. Tests that change `EDITS_TABLE` call `reset_singletons()`."""
    return Catalog(get_settings().edits_table)
