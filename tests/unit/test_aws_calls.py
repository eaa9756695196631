"""AWS calls per request, per route: the counter of `bench/aws_calls.py` (botocore's
`before-call` hook on the clients of `aiimage.aws`) run against moto, with the budgets of
docs/benchmarks.md as assertions. A count, not a time."""

from __future__ import annotations

import json

import pytest

from bench.aws_calls import RouteCalls, count_calls
from bench.events import http_event, quiet_invoke
from bench.routes import Route, prepare_routes

pytestmark = pytest.mark.usefixtures("aws_stack")


@pytest.fixture
def routes() -> dict[str, Route]:
    return {route.function: route for route in prepare_routes()}


def counted(route: Route) -> RouteCalls:
    [result] = count_calls([route])
    return result


def test_usage_is_one_dynamodb_read(routes: dict[str, Route]) -> None:
    # A guest's quota item and its network's day item, in one consistent BatchGetItem.
    result = counted(routes["usage_api"])
    assert result.warm.describe() == "dynamodb.BatchGetItem x1"
    assert result.over() == []


def test_generate_is_at_most_four_dynamodb_calls_and_two_s3_writes(
    routes: dict[str, Route],
) -> None:
    # The rate limit (UpdateItem), the guest's quota and its network's allowance in one
    # TransactWriteItems, the commit (UpdateItem) and the usage answer (BatchGetItem).
    result = counted(routes["generate_api"])
    assert result.warm.count("dynamodb") <= 4, result.warm.describe()
    assert result.warm.count("dynamodb", ("TransactWriteItems",)) == 1, result.warm.describe()
    assert result.warm.count("s3", ("PutObject",)) == 2, result.warm.describe()
    assert result.warm.count("sqs") == 0
    assert result.over() == []


def test_create_edit_is_seven_dynamodb_calls_and_one_message(routes: dict[str, Route]) -> None:
    # The event from its join-token alias (GetItem), photo + style + package + tenant +
    # add-ons + the settings as stored now (BatchGetItem: the kill switch holds at once),
    # the abuse counter, the guest's create rate limit and the budget reservation
    # (UpdateItem each), the guest's and its network's daily allowances
    # (TransactWriteItems), the request with its event's counters (TransactWriteItems).
    result = counted(routes["ai_edits_api"])
    assert result.warm.describe() == (
        "dynamodb.BatchGetItem x1, dynamodb.GetItem x1, dynamodb.TransactWriteItems x2, "
        "dynamodb.UpdateItem x3, sqs.SendMessage x1"
    )
    assert result.over() == []


def test_the_counter_sees_every_route_call(routes: dict[str, Route]) -> None:
    # Listing jobs counts as a job read (the limiter's UpdateItem), then queries the page.
    jobs = counted(routes["jobs_api"])
    assert jobs.warm.describe() == "dynamodb.Query x1, dynamodb.UpdateItem x1"
    delivery = counted(routes["delivery_api"])
    assert delivery.warm.describe() == "s3.GetObject x1, s3.HeadObject x1"


def test_delivery_through_mangum_serves_the_owner_and_refuses_encoded_paths(
    routes: dict[str, Route],
) -> None:
    # Regression: Mangum sets the ASGI `raw_path` to None, which made every delivery 500.
    from delivery_api.app import handler

    route = routes["delivery_api"]
    event = route.make_event()
    response = quiet_invoke(handler, event)
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "image/webp"

    encoded = event["rawPath"].replace("/results/", "/results%2F..%2F")
    refused = http_event("GET", encoded, guest=event["cookies"][0].removeprefix("guest_id="))
    refused["requestContext"]["http"]["path"] = encoded.replace("%2F", "/")
    response = quiet_invoke(handler, refused)
    assert response["statusCode"] in (400, 404), response
    assert json.loads(response["body"])["success"] is False
