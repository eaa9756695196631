"""Lazily created, cached boto3 clients.

Clients are built on first use (not at import: cold starts stay short and tests can point
them at moto), once per process, with explicit timeouts and the SDK's standard retry mode.
`AWS_ENDPOINT_URL` points them at the local moto server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from aiimage.errors import ConfigurationError
from aiimage.observability import trace_aws_calls
from aiimage.settings import get_settings
from aiimage.singletons import singleton

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from boto3.session import Session
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

# Every client's botocore Config.
_CLIENT_CONFIG: dict[str, Any] = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"mode": "standard", "max_attempts": 3},
    # Connections are reused across warm invocations and concurrent threads.
    "max_pool_connections": 50,
    # Every request is built by our code from typed values, and the services validate it
    # again: botocore's client-side pass over each request's shape is a fifth of a warm
    # usage request's own time in the SDK.
    "parameter_validation": False,
    # DynamoDB's account-based endpoints need an account id in the credentials, which a
    # Lambda role's do not carry, so the regional endpoint is what "preferred" reaches
    # anyway; deciding it per request (a JMESPath search of every BatchGetItem's table
    # names) was a tenth of a warm usage request's own time.
    "account_id_endpoint_mode": "disabled",
}
# How long a secret read from SSM is reused: its rotation takes effect within this.
SECRET_MAX_AGE_SECONDS = 300
# DynamoDB's limit of keys per BatchGetItem.
_BATCH_GET_LIMIT = 100


def _session() -> Session:
    # boto3 and botocore's client machinery are imported (and patched for X-Ray) with the
    # first client, on the first request or a SnapStart snapshot's warm-up, not at import:
    # with s3transfer and urllib3 they are 150 ms and more of a cold start.
    trace_aws_calls()
    import boto3.session

    return boto3.session.Session()


def _config(**extra: Any) -> Config:
    import botocore.config

    return botocore.config.Config(**_CLIENT_CONFIG, **extra)


@singleton
def _client(service: str) -> Any:
    settings = get_settings()
    return _session().client(
        service,  # type: ignore[call-overload]
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=_config(),
    )


def dynamodb() -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb")
    return client


def ssm() -> SSMClient:
    client: SSMClient = _client("ssm")
    return client


def sqs() -> SQSClient:
    client: SQSClient = _client("sqs")
    return client


@singleton
def s3() -> S3Client:
    """The object store's client: AWS S3 with the function's role, or R2 (or moto) at
    `STORAGE_ENDPOINT_URL` with its own key. Path-style addressing works on all three."""
    settings = get_settings()
    endpoint = settings.storage_endpoint_url or settings.aws_endpoint_url
    secret_key = secret(
        "STORAGE_SECRET_ACCESS_KEY",
        settings.storage_secret_access_key,
        settings.storage_secret_access_key_param,
    )
    own_key = settings.storage_access_key_id is not None and secret_key is not None
    client: S3Client = _session().client(
        "s3",
        region_name=settings.storage_region or settings.aws_region,
        endpoint_url=endpoint,
        config=_config(signature_version="s3v4", s3={"addressing_style": "path"}),
        aws_access_key_id=settings.storage_access_key_id if own_key else None,
        aws_secret_access_key=secret_key.get_secret_value() if own_key and secret_key else None,
    )
    return client


@singleton
def ssm_parameters() -> SSMProvider:
    """Powertools' SSM provider on our client; it holds the parameter value cache."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider  # first use only

    return SSMProvider(boto3_client=ssm())


def secret(name: str, value: SecretStr | None, parameter: str | None) -> SecretStr | None:
    """A secret: `value` when the environment sets it, else the SSM SecureString
    `parameter`, decrypted and cached for `SECRET_MAX_AGE_SECONDS` (a rotation arrives
    within that, without a redeploy); None when neither is configured. Here rather than in
    `aiimage.credentials`, which names the secrets, because the S3 client needs one too."""
    if value is not None:
        return value
    if parameter is None:
        return None
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        fetched = ssm_parameters().get(parameter, decrypt=True, max_age=SECRET_MAX_AGE_SECONDS)
    except GetParameterError as exc:
        raise ConfigurationError(f"{name} could not be read from its SSM parameter") from exc
    return SecretStr(str(fetched))


def query_items(request: QueryInputTypeDef) -> Iterator[dict[str, Any]]:
    """Every item a DynamoDB Query matches, page after page (`request` is advanced)."""
    while True:
        page = dynamodb().query(**request)
        yield from page.get("Items", [])
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def batch_get_items(
    table: str, keys: Sequence[Mapping[str, Any]], *, consistent: bool = False
) -> Iterator[dict[str, Any]]:
    """The items of `keys` that exist (in no order), 100 keys per BatchGetItem; keys that
    DynamoDB leaves unprocessed (throttling) are asked for again."""
    for start in range(0, len(keys), _BATCH_GET_LIMIT):
        pending: list[Any] = list(keys[start : start + _BATCH_GET_LIMIT])
        while pending:
            response = dynamodb().batch_get_item(
                RequestItems={table: {"Keys": pending, "ConsistentRead": consistent}}
            )
            yield from response.get("Responses", {}).get(table, [])
            unprocessed = response.get("UnprocessedKeys", {}).get(table)
            pending = list(unprocessed["Keys"]) if unprocessed else []
