"""The local stack's demo sign-in (infra.local.DemoSignIn): the demo users' tokens on the
local stack only, never a route of the deployed API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from infra.local import DEMO_SIGN_IN_PATH, DEMO_USERS, DemoSignIn
from web_app.pages import LOCAL_SIGN_IN_PATH

TOKENS = {plan: f"token-of-{plan}" for plan in DEMO_USERS}


async def behind(scope: Any, receive: Any, send: Any) -> None:
    """The gateway: answers 418, to tell its answers apart."""
    await send({"type": "http.response.start", "status": 418, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def client() -> TestClient:
    return TestClient(DemoSignIn(behind, TOKENS))


def test_it_lists_the_plans_and_mints_each_demo_users_token() -> None:
    listed = client().get(DEMO_SIGN_IN_PATH)
    assert listed.status_code == 200
    assert listed.json() == {"success": True, "data": {"plans": sorted(DEMO_USERS)}}
    assert listed.headers["cache-control"] == "no-store"
    assert "strict-transport-security" in listed.headers
    answer = client().get(DEMO_SIGN_IN_PATH, params={"plan": "pro"}).json()
    assert answer == {
        "success": True,
        "data": {"plan": "pro", "user": DEMO_USERS["pro"], "token": "token-of-pro"},
    }


def test_an_unknown_plan_is_404_and_other_paths_reach_the_gateway() -> None:
    refused = client().get(DEMO_SIGN_IN_PATH, params={"plan": "superadmin"})
    assert refused.status_code == 404
    assert refused.json()["success"] is False
    assert client().get("/api/ai-image/usage").status_code == 418
    assert client().get(DEMO_SIGN_IN_PATH + "/x").status_code == 418


def test_the_page_asks_where_the_stack_answers_and_the_template_has_no_such_route() -> None:
    assert LOCAL_SIGN_IN_PATH == DEMO_SIGN_IN_PATH
    template = (Path(__file__).resolve().parents[2] / "template.yaml").read_text()
    assert DEMO_SIGN_IN_PATH not in template
    assert "/local/" not in template
