"""Workers AI against what Cloudflare publishes, not against what we wrote.

Workers AI has no official Python client, so the oracles are the models' published JSON
schemas and Cloudflare's error table, kept in `schemas/workers_ai/` (its README names each
source). Flows covered, for every Workers AI route of the model catalog:

- our request: the body our client sends (img2img and text-to-image; default, minimum and
  maximum settings) validates against the model's published input schema; the method,
  path, bearer token and content type are the REST API's.
- the emulator's input checks: every body the schema refuses (derived from the schema
  itself: each required field left out, each property null or of a wrong type, each bound
  crossed) is refused with HTTP 400, the v4 envelope and a code of the error table; bodies
  the schema accepts are run.
- the emulator's answers: a run answers what the output schema says (binary `image/png`);
  every error answer (invalid input, unknown model, bad token, other account, daily quota,
  capacity, timeout, too large) is the v4 envelope with a code of the error table at that
  code's documented HTTP status, and the undocumented 3010 is never answered.
- our client end to end: each model runs through the emulator and its result is the
  output schema's image.

No test here reaches beyond loopback: a connection elsewhere fails the test.
"""

from __future__ import annotations

import base64
import io
import json
import socket
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]  # via openapi-spec-validator
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from PIL import Image

from aiimage.enhancer.model_catalog import CATALOG
from aiimage.providers.base import GenerationRequest, ImageInput, Outcome
from aiimage.providers.workers_ai import WorkersAiProvider, map_error
from infra.emulators.server import serve_in_thread
from infra.emulators.workers_ai import create_app
from tests.functional.provider_emulators import RecordingSleep, png, transport
from tests.generation import generation_request

SCHEMAS = Path(__file__).parent / "schemas" / "workers_ai"
TOKEN = "cf-contract-token-0123456789abcdef"
ACCOUNT = "0123456789abcdef0123456789abcdef"
PROMPT = "a lighthouse at dusk, watercolour"

# The catalog's Workers AI models: each must have its published schema kept as a fixture.
CATALOG_MODELS = sorted(
    {
        route.model
        for spec in CATALOG.values()
        for route in spec.routes
        if route.provider == "workers_ai"
    }
)


def published(model: str) -> dict[str, Any]:
    """The model's published page (`schema.input`, `schema.output`), by its id."""
    for path in SCHEMAS.glob("*.json"):
        page: dict[str, Any] = json.loads(path.read_text())
        if page.get("name") == model:
            return page
    pytest.fail(f"no published schema of {model} in {SCHEMAS}: keep its page as a fixture")


def input_validator(model: str) -> jsonschema.protocols.Validator:
    schema = published(model)["schema"]["input"]
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


ERRORS = json.loads((SCHEMAS / "errors.json").read_text())
# code -> documented HTTP statuses
DOCUMENTED: dict[int, set[int]] = {row["code"]: {row["status"]} for row in ERRORS["errors"]}
DOCUMENTED.update({row["code"]: set(row["status"]) for row in ERRORS["api_errors"]})


# --- nothing but loopback --------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def loopback_only() -> Iterator[None]:
    """Fail any connection that would leave this machine (the real API, say)."""
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            pytest.fail(f"a Workers AI contract test tried to reach {address!r}")
        return connect(self, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded)
        yield


# --- our client's requests -------------------------------------------------------------------


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Capture:
    """A loopback server that keeps each request and answers with a PNG, as the API does."""

    url: str
    requests: list[Captured]


@pytest.fixture(scope="module")
def capture() -> Iterator[Capture]:
    requests: list[Captured] = []
    app = FastAPI()

    @app.post("/client/v4/accounts/{account}/ai/run/{model:path}")
    async def run(request: Request) -> Response:
        requests.append(
            Captured(
                request.method,
                request.url.path,
                dict(request.headers),
                json.loads(await request.body()),
            )
        )
        return Response(png(), media_type="image/png")

    with serve_in_thread(app) as url:
        yield Capture(f"{url}/client/v4", requests)


def client(base_url: str) -> WorkersAiProvider:
    wire = transport(
        "workers_ai", base_url, TOKEN, map_error=map_error, sleep=RecordingSleep(), max_retries=0
    )
    return WorkersAiProvider(account_id=ACCOUNT, transport=wire)


def job(model: str, *, with_image: bool = True, **options: Any) -> GenerationRequest:
    data = png(40, 30) if with_image else b""
    values: dict[str, Any] = {"prompt": PROMPT, "wait_seconds": 10.0, **options}
    return generation_request(model, ImageInput(data, "image/png"), **values)


# The settings a caller can choose, at the catalog's defaults and at its bounds.
SETTINGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "lowest": {"steps": 1, "strength": 0.05, "guidance": 0.0},
    "highest": {"steps": 20, "strength": 0.95, "guidance": 20.0, "negative_prompt": "blur"},
    "beyond-the-api": {"steps": 50, "strength": 1.0},  # our client clamps to the schema
}


def jobs() -> Iterator[Any]:
    for model in CATALOG_MODELS:
        for name, options in SETTINGS.items():
            yield pytest.param(model, True, options, id=f"{model}-img2img-{name}")
        if model.endswith("xl-base-1.0"):  # SDXL also runs without an input image
            yield pytest.param(model, False, {}, id=f"{model}-text-to-image")


@pytest.mark.parametrize(("model", "with_image", "options"), list(jobs()))
def test_our_request_is_valid_by_the_published_input_schema(
    capture: Capture, model: str, with_image: bool, options: dict[str, Any]
) -> None:
    capture.requests.clear()

    with closing(client(capture.url)) as provider:
        provider.submit(job(model, with_image=with_image, **options))

    (sent,) = capture.requests
    assert sent.method == "POST"
    assert sent.path == f"/client/v4/accounts/{ACCOUNT}/ai/run/{published(model)['name']}"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["content-type"] == "application/json"
    errors = [error.message for error in input_validator(model).iter_errors(sent.body)]
    assert errors == []
    assert ("image_b64" in sent.body) is with_image


def test_every_catalog_model_has_its_published_schema() -> None:
    assert CATALOG_MODELS  # the catalog routes models to Workers AI
    for model in CATALOG_MODELS:
        page = published(model)
        assert page["schema"]["input"]["required"] == ["prompt"]
        assert page["schema"]["output"]["contentType"] == "image/png"


# --- the emulator against the schema -------------------------------------------------------


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with serve_in_thread(create_app(api_token=TOKEN, account_id=ACCOUNT)) as url:
        yield f"{url}/client/v4"


@pytest.fixture
def emulator(emulator_url: str) -> str:
    """The emulator's base URL, with no fault left over from another test."""
    root = emulator_url.removesuffix("/client/v4")
    assert httpx.delete(f"{root}/__emulator/faults").status_code == 204
    return emulator_url


def run(base_url: str, model: str, body: Any, **headers: str) -> httpx.Response:
    url = f"{base_url}/accounts/{ACCOUNT}/ai/run/{model}"
    sent = {"Authorization": f"Bearer {TOKEN}", **headers}
    if isinstance(body, bytes):
        return httpx.post(url, content=body, headers=sent, timeout=30)
    return httpx.post(url, json=body, headers=sent, timeout=30)


def b64_png() -> str:
    return base64.b64encode(png(32, 32)).decode("ascii")


def valid_body(model: str) -> dict[str, Any]:
    """A small body the schema accepts and the model can run (SD 1.5 needs an image)."""
    body: dict[str, Any] = {"prompt": PROMPT, "width": 256, "height": 256}
    if "img2img" in model:
        body["image_b64"] = b64_png()
    return body


WRONG_TYPE: dict[str, list[Any]] = {
    "string": [7, True, ["text"]],
    "integer": ["20", 20.5, True, [20]],
    "number": ["7.5", True, {"value": 7.5}],
    "array": ["0,1,2", 3, {"0": 1}],
}


def refused_bodies(model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Bodies the published schema refuses, derived from the schema itself: each one
    changes a single thing of a valid body."""
    schema = published(model)["schema"]["input"]
    base = valid_body(model)
    for field in schema["required"]:
        yield f"without {field}", {k: v for k, v in base.items() if k != field}
    for field, rules in schema["properties"].items():
        # A mutated image replaces the one the body has (only one of the two may be sent).
        start = {k: v for k, v in base.items() if k != "image_b64"} if field == "image" else base
        for value in [None, *WRONG_TYPE[rules["type"]]]:
            yield f"{field}={value!r}", {**start, field: value}
        if "items" in rules:
            for value in WRONG_TYPE[rules["items"]["type"]]:
                yield f"{field}[0]={value!r}", {**start, field: [value]}
        if "minLength" in rules:
            yield f"{field} too short", {**start, field: ""}
        if "minimum" in rules:
            yield f"{field} below {rules['minimum']}", {**start, field: rules["minimum"] - 1}
        if "maximum" in rules:
            yield f"{field} above {rules['maximum']}", {**start, field: rules["maximum"] + 1}


def refusals() -> Iterator[Any]:
    for model in CATALOG_MODELS:
        for name, body in refused_bodies(model):
            yield pytest.param(model, body, id=f"{model}-{name}")


def assert_documented_error(response: httpx.Response) -> int:
    """The v4 envelope of a failure with a code of Cloudflare's table, at its status."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    payload = response.json()
    assert set(payload) == {"success", "errors", "messages", "result"}, payload
    assert payload["success"] is False
    assert payload["result"] is None
    assert isinstance(payload["messages"], list)
    assert len(payload["errors"]) >= 1
    for error in payload["errors"]:
        assert set(error) == {"code", "message"}, error
        assert isinstance(error["message"], str)
        assert error["message"]
        assert error["code"] in DOCUMENTED, f"{error['code']} is not a documented code"
        assert response.status_code in DOCUMENTED[error["code"]], (response.status_code, error)
    code: int = payload["errors"][0]["code"]
    return code


@pytest.mark.parametrize(("model", "body"), list(refusals()))
def test_the_emulator_refuses_what_the_schema_refuses(
    emulator: str, model: str, body: dict[str, Any]
) -> None:
    assert not input_validator(model).is_valid(body)  # the premise: the schema refuses it

    response = run(emulator, model, body)

    assert response.status_code == 400, response.text
    assert assert_documented_error(response) in (3003, 5004)


def accepted_bodies(model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    base = valid_body(model)
    yield "minimal", base
    yield (
        "every field",
        {
            **base,
            "negative_prompt": "blur",
            "num_steps": 20,
            "strength": 0.5,
            "guidance": 7.5,
            "seed": 42,
        },
    )
    yield "lowest bounds", {**base, "width": 256, "height": 256, "num_steps": 1, "strength": 0}
    yield "integral numbers", {**base, "num_steps": 10.0, "guidance": 7, "strength": 1}
    yield (
        "the int array",
        {
            **{k: v for k, v in base.items() if k != "image_b64"},
            "image": list(png(24, 24)),
        },
    )
    yield "an unknown field", {**base, "style": "ignored"}  # no additionalProperties: false


def acceptances() -> Iterator[Any]:
    for model in CATALOG_MODELS:
        for name, body in accepted_bodies(model):
            yield pytest.param(model, body, id=f"{model}-{name}")


def assert_output(model: str, response: httpx.Response) -> None:
    """The output schema: a binary string of its content type, i.e. the image bytes."""
    output = published(model)["schema"]["output"]
    assert (output["type"], output["format"]) == ("string", "binary")
    assert response.headers["content-type"] == output["contentType"]
    with Image.open(io.BytesIO(response.content)) as image:
        assert Image.MIME[image.format or ""] == output["contentType"]
        image.verify()


@pytest.mark.parametrize(("model", "body"), list(acceptances()))
def test_the_emulator_runs_what_the_schema_accepts(
    emulator: str, model: str, body: dict[str, Any]
) -> None:
    assert input_validator(model).is_valid(body)

    response = run(emulator, model, body)

    assert response.status_code == 200, response.text
    assert_output(model, response)


# --- the emulator's error answers ------------------------------------------------------------


def fault(base_url: str, kind: str, **options: Any) -> httpx.Response:
    root = base_url.removesuffix("/client/v4")
    return httpx.post(f"{root}/__emulator/faults", json={"kind": kind, **options})


@pytest.mark.parametrize(
    ("request_body", "headers", "status", "code"),
    [
        (b"", {}, 400, 3003),
        (b"{not json", {}, 400, 3003),
        ({"prompt": PROMPT}, {"Authorization": "Bearer wrong"}, 401, 10000),
    ],
    ids=["no-body", "not-json", "bad-token"],
)
def test_a_refused_run_answers_a_documented_code(
    emulator: str, request_body: Any, headers: dict[str, str], status: int, code: int
) -> None:
    model = CATALOG_MODELS[0]

    response = run(emulator, model, request_body, **headers)

    assert response.status_code == status
    assert assert_documented_error(response) == code


def test_an_unknown_model_and_another_account_answer_documented_codes(emulator: str) -> None:
    unknown = run(emulator, "@cf/nobody/nothing", {"prompt": PROMPT})
    other = httpx.post(
        f"{emulator}/accounts/{'f' * 32}/ai/run/{CATALOG_MODELS[0]}",
        json=valid_body(CATALOG_MODELS[0]),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert (unknown.status_code, assert_documented_error(unknown)) == (400, 5007)
    assert (other.status_code, assert_documented_error(other)) == (403, 10000)


@pytest.mark.parametrize(
    ("kind", "options", "status", "code"),
    [
        ("rate_limit", {}, 429, 3040),
        ("rate_limit", {"code": 3036}, 429, 3036),
        ("server_error", {"status": 408}, 408, 3007),
        ("failed", {}, 400, 5004),
        ("failed", {"code": 3006}, 413, 3006),
        ("failed", {"code": 3042}, 404, 3042),
        ("failed", {"code": 5016}, 403, 5016),
        ("auth", {}, 401, 10000),
    ],
)
def test_every_fault_answers_a_documented_code_at_its_status(
    emulator: str, kind: str, options: dict[str, Any], status: int, code: int
) -> None:
    model = CATALOG_MODELS[0]
    assert fault(emulator, kind, path_contains=model, **options).status_code == 204

    response = run(emulator, model, valid_body(model))

    assert response.status_code == status
    assert assert_documented_error(response) == code


def test_a_fault_with_an_undocumented_code_is_refused(emulator: str) -> None:
    """3010 "invalid input" is in third-party retry lists, not in Cloudflare's table."""
    assert 3010 not in DOCUMENTED
    refused = fault(emulator, "failed", code=3010)

    assert refused.status_code == 422
    assert "3010" in refused.text


def test_a_server_error_without_a_code_is_the_edge_page(emulator: str) -> None:
    """A 5xx that no Workers AI code describes comes from Cloudflare's edge: an HTML page,
    not an envelope with an invented code."""
    model = CATALOG_MODELS[0]
    fault(emulator, "server_error", status=502, path_contains=model)

    response = run(emulator, model, valid_body(model))

    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")


# --- our client end to end -------------------------------------------------------------------


@pytest.mark.parametrize("model", CATALOG_MODELS)
def test_our_client_runs_every_catalog_model_on_the_emulator(emulator: str, model: str) -> None:
    with closing(client(emulator)) as provider:
        outcome: Outcome = provider.submit(job(model))

    assert outcome.status == "succeeded"
    assert outcome.content_type == published(model)["schema"]["output"]["contentType"]
    assert outcome.image is not None
    Image.open(io.BytesIO(outcome.image)).verify()


def test_the_fixtures_are_the_published_pages() -> None:
    """The schema copies are whole pages of the docs repository, not edited excerpts."""
    for path in SCHEMAS.glob("*.json"):
        page = json.loads(path.read_text())
        if path.name == "errors.json":
            assert "errors.mdx" in page["source"]
            continue
        assert {"id", "name", "task", "properties", "schema"} <= page.keys()
        assert page["schema"]["input"]["type"] == "object"
