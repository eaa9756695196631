"""The botocore configuration every client of `aiimage.aws` shares: what endpoint a
DynamoDB request reaches, checked on the request botocore builds (sent nowhere)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config

from aiimage import aws

ACCOUNT = "123456789012"


class _Built(Exception):  # noqa: N818 - not an error: how the request leaves the client
    def __init__(self, request: AWSPreparedRequest) -> None:
        self.host = request.url.split("/")[2]


def _host_of_a_batch_get(config: Config) -> str:
    """The host a BatchGetItem goes to, for credentials that carry an account id."""
    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        aws_account_id=ACCOUNT,
        region_name="eu-central-1",
    )
    client = session.client("dynamodb", config=config)

    def stop(request: AWSPreparedRequest, **_: Any) -> None:
        raise _Built(request)

    client.meta.events.register("before-send", stop)
    with pytest.raises(_Built) as built:
        client.batch_get_item(RequestItems={"t": {"Keys": [{"pk": {"S": "k"}}]}})
    return built.value.host


def test_dynamodb_requests_go_to_the_regional_endpoint() -> None:
    assert _host_of_a_batch_get(aws._config()) == "dynamodb.eu-central-1.amazonaws.com"


def test_botocore_would_otherwise_pick_the_account_endpoint() -> None:
    # What the setting changes: botocore's default ("preferred") uses the account id.
    assert _host_of_a_batch_get(Config()) == f"{ACCOUNT}.ddb.eu-central-1.amazonaws.com"


@pytest.mark.parametrize("option", ["parameter_validation", "account_id_endpoint_mode"])
def test_the_options_reach_the_clients_config(option: str) -> None:
    assert getattr(aws._config(), option) == aws._CLIENT_CONFIG[option]
