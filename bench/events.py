"""API Gateway v2 events and Lambda invocation for the handler benchmarks. Light on
purpose (no `aiimage` import): the memory and cold-start baselines use it too."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
ORIGIN = "https://app.bench"  # bench.stack's ALLOWED_ORIGINS, when the environment has none
CSRF = "bench-csrf-token-0123456789"


@dataclass
class LambdaContext:
    function_name: str = "BenchFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:BenchFunction"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 28_000


def quiet_invoke(handler: Handler, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke a handler with its EMF metric lines (printed to stdout) swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        return handler(event, LambdaContext())


def http_event(
    method: str,
    path: str,
    *,
    guest: str | None = None,
    bearer: str | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    """An HttpApi payload-2.0 event as API Gateway sends it; a guest comes as a same-origin
    browser (Origin, double-submit CSRF cookie and header)."""
    headers = {
        "accept": "application/json",
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "bench/1.0",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    cookies = []
    if guest is not None:
        cookies = [f"guest_id={guest}", f"csrf_token={CSRF}"]
        origin = os.environ.get("ALLOWED_ORIGINS", ORIGIN).split(",")[0]
        headers.update({"origin": origin, "x-csrf-token": CSRF})
    if bearer is not None:
        headers["authorization"] = f"Bearer {bearer}"
    if content_type is not None:
        headers["content-type"] = content_type
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"ANY {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": headers["host"],
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "bench/1.0",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"ANY {path}",
            "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if body is not None:
        event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = True
    return event


def multipart(
    fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes, str]]
) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = secrets.token_hex(16)
    parts: list[bytes] = []
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    for name, (filename, data, mime) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {mime}\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def json_body(value: Any) -> tuple[bytes, str]:
    return json.dumps(value).encode(), "application/json"


def small_jpeg(width: int = 512, height: int = 384) -> bytes:
    from PIL import Image, ImageDraw  # only the cases that send an image pay for Pillow

    image = Image.new("RGB", (width, height), (70, 130, 200))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, width // 2, height // 2), fill=(240, 200, 60))
    draw.rectangle((width // 2, height // 2, width - 20, height - 20), fill=(40, 120, 60))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()
