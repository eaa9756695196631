"""The warm path's threadpool hops (issue 18): the identity dependency and the routes that do
no blocking I/O are async; a route with blocking work runs it in the threadpool once, its
answer validated (or, from `envelope_response`, serialised once) on the event loop."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import anyio.to_thread
import pytest
from fastapi import Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

from aiimage.http.app import CurrentIdentity, api_router, create_app, envelope_response
from aiimage.http.models import Envelope
from web_app import pages


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function Starlette and FastAPI hand to the threadpool."""
    handed: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        inner = func.func if isinstance(func, functools.partial) else func  # Starlette's
        handed.append(getattr(inner, "__name__", repr(inner)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return handed


class Echo(BaseModel):
    owner: str
    times: int


router = api_router(prefix="/t")


@router.get("/echo", response_model=Envelope[Echo])
def echo(identity: CurrentIdentity, times: Annotated[int, Query(ge=1, le=3)] = 1) -> Envelope[Echo]:
    return Envelope(data=Echo(owner=identity.owner_id, times=times))


@router.get("/bad", response_model=Envelope[Echo])
def bad() -> Any:
    return {"success": True, "data": {"owner": "x"}}  # `times` missing: not a valid answer


@router.get("/fast", response_model=Envelope[Echo])
async def fast(identity: CurrentIdentity) -> Any:
    return envelope_response(Envelope(data=Echo(owner=identity.owner_id, times=0)))


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app("warm path", router), base_url="https://app.test") as c:
        yield c


def test_a_sync_route_runs_in_the_threadpool_once(client: TestClient, hops: list[str]) -> None:
    response = client.get("/t/echo", params={"times": 2})
    assert response.status_code == 200
    assert response.json()["data"]["times"] == 2
    assert response.json()["data"]["owner"]
    # The endpoint only: not the identity dependency, not the answer's validation.
    assert hops == ["echo"]


def test_the_wrapped_route_still_checks_its_input_and_its_answer(client: TestClient) -> None:
    refused = client.get("/t/echo", params={"times": 9})
    assert refused.status_code == 422
    assert refused.json()["error"]["type"] == "validation_error"
    # An answer that does not match the route's model is still caught: our fault, a 500.
    broken = client.get("/t/bad")
    assert (broken.status_code, broken.json()["error"]["type"]) == (500, "server_error")


def test_an_async_route_with_envelope_response_makes_no_hop(
    client: TestClient, hops: list[str]
) -> None:
    response = client.get("/t/fast")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["data"]["times"] == 0
    assert hops == []


def test_the_routes_document_what_they_did_before(client: TestClient) -> None:
    schema = client.app.openapi()  # type: ignore[attr-defined]
    echo_op = schema["paths"]["/t/echo"]["get"]
    assert [p["name"] for p in echo_op["parameters"]] == ["times"]
    ok = echo_op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Envelope_Echo_"}


@pytest.mark.usefixtures("aws_stack")
def test_usage_reads_dynamodb_in_one_hop(hops: list[str]) -> None:
    from usage_api.app import app

    with TestClient(app, base_url="https://app.test") as c:
        response = c.get("/api/ai-image/usage")
    assert response.status_code == 200
    assert response.headers["x-usage-limit"] == "3"
    assert response.json()["data"]["ownerType"] == "guest"
    assert hops == ["get_usage"]


@pytest.mark.usefixtures("aws_stack")
def test_a_jobs_list_runs_in_one_hop(hops: list[str]) -> None:
    from jobs_api.app import app

    with TestClient(app, base_url="https://app.test") as c:
        response = c.get("/api/ai-image/jobs")
    assert response.status_code == 200, response.text
    assert hops == ["list_jobs"]


def test_the_pages_make_no_hop(hops: list[str]) -> None:
    from web_app.app import app

    asset = next(iter(pages.ASSETS))
    with TestClient(app, base_url="https://app.test") as c:
        assert c.get(pages.ENHANCER_PATH).status_code == 200
        assert c.get(f"{pages.STATIC_PREFIX}{asset}").status_code == 200
    assert hops == []
