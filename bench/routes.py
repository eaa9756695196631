"""The HTTP routes the handler benchmarks invoke, with the AWS-call budget of each.

Every invocation is a fresh caller where the route spends a per-caller allowance (a new
guest for generate and create edit: a guest may generate 3 images a day), so repeated
invocations measure the same path, never a refusal.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.counting import DYNAMODB_READS, S3_WRITES, AwsCalls
from bench.events import Handler, http_event, json_body, multipart, quiet_invoke, small_jpeg

GENERATE_MODEL = "@cf/runwayml/stable-diffusion-v1-5-img2img"  # the local provider locally


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `limit` calls of `service` (only `operations`, when given)."""

    label: str
    service: str
    limit: int
    operations: tuple[str, ...] | None = None

    def actual(self, calls: AwsCalls) -> int:
        return calls.count(self.service, self.operations)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    function: str  # the package under functions/
    make_event: Callable[[], dict[str, Any]]
    expected_status: int
    limits: tuple[Limit, ...] = ()

    def handler(self) -> Handler:
        handler: Handler = importlib.import_module(f"{self.function}.app").handler
        return handler

    def invoke(self, handler: Handler) -> dict[str, Any]:
        response = quiet_invoke(handler, self.make_event())
        if response["statusCode"] != self.expected_status:
            raise RuntimeError(
                f"{self.name}: status {response['statusCode']} (expected "
                f"{self.expected_status}): {response.get('body', '')[:300]}"
            )
        return response


def new_guest_cookie() -> str:
    from aiimage.identity import new_guest_id, sign_guest_id

    return sign_guest_id(new_guest_id())


def usage_event(guest: str) -> Callable[[], dict[str, Any]]:
    return lambda: http_event("GET", "/api/ai-image/usage", guest=guest)


def generate_event(image: bytes) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        body, content_type = multipart(
            {"model": GENERATE_MODEL}, {"image": ("photo.jpg", image, "image/jpeg")}
        )
        return http_event(
            "POST",
            "/api/ai-image/generate",
            guest=new_guest_cookie(),
            body=body,
            content_type=content_type,
        )

    return make


def create_edit_event(join_token: str, photo_id: str, style: str) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        body, content_type = json_body({"style_key": style})
        return http_event(
            "POST",
            f"/api/v1/events/{join_token}/photos/{photo_id}/ai-edits",
            guest=new_guest_cookie(),
            body=body,
            content_type=content_type,
        )

    return make


def baseline_event() -> dict[str, Any]:
    return http_event("GET", "/bench/ping")


def prepare_routes() -> list[Route]:
    """Seed what the routes need (on the moto the clients reach) and describe them."""
    from aiimage.edits.admission import update_guest_limits
    from aiimage.edits.catalog_store import catalog
    from aiimage.edits.models import Budget
    from aiimage.settings import get_settings
    from infra.seed_edits import seed_demo

    demo = seed_demo(bucket=get_settings().images_bucket)
    # Enough budget for every create of the run; the budget check itself still runs.
    catalog().update_budget(demo.tenant_id, Budget(hard_cap_micros=10**12))
    # Every event comes from one address: room for all of the run's fresh guests.
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    limits = event.ai_editing.guest_limits.model_copy(update={"network_edits_per_day": 5000})
    update_guest_limits(event, limits)

    # A stored result of one guest, for the owner-gated delivery route.
    owner = new_guest_cookie()
    image = small_jpeg()
    from generate_api.app import handler as generate_handler

    body, content_type = multipart(
        {"model": GENERATE_MODEL}, {"image": ("photo.jpg", image, "image/jpeg")}
    )
    generated = quiet_invoke(
        generate_handler,
        http_event(
            "POST", "/api/ai-image/generate", guest=owner, body=body, content_type=content_type
        ),
    )
    if generated["statusCode"] != 200:
        raise RuntimeError(f"seeding a result failed: {generated.get('body', '')[:300]}")
    result_path = "/" + json.loads(generated["body"])["data"]["imageUrl"].split("/", 3)[3]

    return [
        Route(
            "GET /api/ai-image/usage",
            "usage_api",
            usage_event(owner),
            200,
            (
                Limit("DynamoDB reads", "dynamodb", 1, DYNAMODB_READS),
                Limit("DynamoDB calls", "dynamodb", 1),
            ),
        ),
        Route(
            "POST /api/ai-image/generate",
            "generate_api",
            generate_event(image),
            200,
            (
                Limit("DynamoDB calls", "dynamodb", 4),
                Limit("S3 writes", "s3", 2, S3_WRITES),
            ),
        ),
        Route(
            "POST /api/v1/events/{token}/photos/{photo}/ai-edits",
            "ai_edits_api",
            create_edit_event(demo.join_token, demo.photo_id, demo.style_keys[0]),
            201,
            (
                Limit("DynamoDB calls", "dynamodb", 7),
                Limit("SQS sends", "sqs", 1, ("SendMessage",)),
            ),
        ),
        Route(
            "GET /api/ai-image/jobs",
            "jobs_api",
            # A guest per read: one owner's reads are limited to 10 a minute.
            lambda: http_event("GET", "/api/ai-image/jobs", guest=new_guest_cookie()),
            200,
        ),
        Route(
            "GET /r2-ai/{key+}",
            "delivery_api",
            lambda: http_event("GET", result_path, guest=owner),
            200,
        ),
    ]
