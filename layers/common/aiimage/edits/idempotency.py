"""`Idempotency-Key` on creating POSTs, with powertools' idempotency on DynamoDB.

A retried create (same key, same caller, same body) gets the first answer back and runs
nothing twice, so the budget is reserved once. The same key with a different body is a
422; a retry while the first is still running is a 409. A create that failed leaves no
record, so retrying it really retries.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiimage import aws
from aiimage.edits.models import EditRequest
from aiimage.errors import ConflictError, UnprocessableError, ValidationError
from aiimage.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
    )

# Outside Lambda (the local stack, tests) there is no context to register: the in-progress
# record then expires after powertools' default instead, which is what we want there.
warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")

_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,128}")


@functools.cache
def _config() -> IdempotencyConfig:
    # powertools' idempotency package imports boto3 (and s3transfer) with itself: it comes
    # with the first invocation, which builds an AWS client anyway, not with the import.
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="[scope, key]",
        payload_validation_jmespath="payload",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=24 * 3600,
        hash_function="sha256",
    )


def register_lambda_context(context: Any) -> None:
    """In Lambda: let an in-progress record expire with the invocation, not after an hour."""
    _config().register_lambda_context(context)


def _persistence() -> DynamoDBPersistenceLayer:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    # Cheap to build: it wraps the cached DynamoDB client of `aiimage.aws`.
    return DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table, boto3_client=aws.dynamodb()
    )


def idempotent_create(
    key: str | None,
    *,
    scope: str,
    payload: dict[str, Any],
    create: Callable[[], EditRequest],
) -> EditRequest:
    if key is None:
        return create()
    if not _KEY.fullmatch(key):
        raise ValidationError(
            "Idempotency-Key must be 8 to 128 letters, digits or _.:-",
            code="invalid_idempotency_key",
            details={"field": "Idempotency-Key"},
        )
    # With the first keyed create: powertools' idempotency imports boto3 (see `_config`).
    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", persistence_store=_persistence(), config=_config()
    )
    def create_once(request: dict[str, Any]) -> dict[str, Any]:
        return create().model_dump(mode="json")

    try:
        stored = create_once(request={"scope": scope, "key": key, "payload": payload})
    except IdempotencyAlreadyInProgressError:
        raise ConflictError(
            "A request with this Idempotency-Key is still being processed",
            code="idempotency_in_progress",
        ) from None
    except IdempotencyValidationError:
        raise UnprocessableError(
            "This Idempotency-Key was used with a different request",
            code="idempotency_key_reused",
        ) from None
    return EditRequest.model_validate(stored)
