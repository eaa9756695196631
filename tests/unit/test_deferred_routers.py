"""Routers included with the first request under their prefix (`DeferredRouters`): left
out of the cold start of callers who never reach them, and whole for everyone else."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from fastapi.testclient import TestClient

from aiimage import snapstart
from aiimage.http.app import create_app
from tests.conftest import ORIGIN

loaded: list[str] = []


def _router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix)

    @router.get("/ping")
    async def ping() -> dict[str, str]:
        return {"at": prefix}

    return router


def _group(name: str) -> Sequence[APIRouter]:
    loaded.append(name)  # the import a real group does here
    return (_router(f"/api/{name}"),)


def app_with_groups() -> TestClient:
    loaded.clear()
    app = create_app(
        "deferred",
        _router("/api/guest"),
        deferred={"/api/tenant/": lambda: _group("tenant"), "/api/admin/": lambda: _group("admin")},
    )
    return TestClient(app, base_url=ORIGIN)


def test_a_group_comes_with_the_first_request_under_its_prefix() -> None:
    with app_with_groups() as client:
        assert client.get("/api/guest/ping").json() == {"at": "/api/guest"}
        assert loaded == []  # a guest's requests include nothing
        assert client.get("/api/tenant/ping").json() == {"at": "/api/tenant"}
        assert client.get("/api/tenant/ping").status_code == 200
        assert loaded == ["tenant"]  # once, not per request
        assert client.get("/api/admin/ping").json() == {"at": "/api/admin"}
        assert loaded == ["tenant", "admin"]


def test_an_unknown_path_under_a_prefix_is_a_404_after_its_group_came() -> None:
    with app_with_groups() as client:
        missing = client.get("/api/tenant/nope")
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "not_found"
        assert loaded == ["tenant"]


def test_the_openapi_description_documents_every_group() -> None:
    with app_with_groups() as client:
        paths = set(client.app.openapi()["paths"])  # type: ignore[attr-defined]
    assert paths == {"/api/guest/ping", "/api/tenant/ping", "/api/admin/ping"}


def test_a_snapshot_holds_every_group() -> None:
    registered = len(snapstart._warmers)
    with app_with_groups() as client:
        assert len(snapstart._warmers) == registered + 1
        snapstart._warmers[-1]()  # what before_snapshot runs
        assert loaded == ["tenant", "admin"]
        assert client.get("/api/admin/ping").status_code == 200
    del snapstart._warmers[registered:]
