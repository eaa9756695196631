"""Lazily created, cached boto3 clients.

Clients are built on first use (not at import: cold starts stay short and tests can point
them at moto), once per process, with explicit timeouts and the SDK's standard retry mode.
`AWS_ENDPOINT_URL` points them at the local moto server.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from aiimage.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ssm import SSMClient

_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
    # Connections are reused across warm invocations and concurrent threads.
    max_pool_connections=50,
)


@cache
def _client(service: str) -> Any:
    settings = get_settings()
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=_CONFIG,
    )


def dynamodb() -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb")
    return client


def ssm() -> SSMClient:
    client: SSMClient = _client("ssm")
    return client


@cache
def ssm_parameters() -> SSMProvider:
    """Powertools' SSM provider on our client; it holds the parameter value cache."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider  # first use only

    return SSMProvider(boto3_client=ssm())


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    _client.cache_clear()
    ssm_parameters.cache_clear()
