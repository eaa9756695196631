"""The second baseline of the cold-start benchmark: a bare powertools `APIGatewayHttpResolver`
with one route that answers a small JSON document, what a function without FastAPI costs."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.get("/bench/ping")
def ping() -> dict[str, object]:
    return {"success": True, "data": {"pong": True}}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
