"""The baseline of the handler benchmarks: a bare FastAPI app behind Mangum, one route that
answers a small JSON document. No middleware, no settings, no AWS client: what any
FastAPI-on-Lambda function costs before it does anything of its own."""

from __future__ import annotations

from fastapi import FastAPI
from mangum import Mangum

app = FastAPI(title="baseline", docs_url=None, redoc_url=None)


@app.get("/bench/ping")
def ping() -> dict[str, object]:
    return {"success": True, "data": {"pong": True}}


handler = Mangum(app, lifespan="off")
