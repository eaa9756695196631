"""The Lambda artifact itself, built by `sam build` as `make build` does, proven to run.

The build is made for this machine's architecture (infra/build.py --host: same template,
same locked versions, the host's wheels), once per session. Each function's built folder is
its task root and the layer's built `python/` its /opt/python; a fresh interpreter with only
those two on `sys.path` (tests/artifact/lambda_runtime.py) imports the function's Handler and
answers events made by `sam local generate-event`, against a moto server holding every
resource of the template, with the samconfig `dev` parameters as the function's environment
and the provider emulators behind the real clients. A file the checkout has but the artifact
lacks fails here. The arm64 layer is built as well, and its shared libraries checked.

Skipped, with the reason, only where the SAM CLI or a CPython 3.12 is missing.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import secrets
import subprocess
import time
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from PIL import Image

from infra import build
from infra.emulators import workers_ai
from infra.emulators.server import serve_in_thread
from infra.resources import create_resources, put_secure_parameters
from infra.signing import local_signing
from infra.template import DEFAULT_REGION, Function, Resolver, Template, load_template

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = Path(__file__).with_name("lambda_runtime.py")
STACK = "aiimage-artifact"
API_HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"  # the pages' own origin
ELF_MACHINES = {"arm64": 183, "x86_64": 62}  # e_machine: EM_AARCH64, EM_X86_64
INVOKE_TIMEOUT_SECONDS = 120


def samconfig_parameters(profile: str = "dev") -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config[profile]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in overrides)


EMULATED_ACCOUNT = "0123456789abcdef0123456789abcdef"
# What a deployer fills in where samconfig.toml has a placeholder (SET-YOUR-…).
DEPLOYER_VALUES = {"CloudflareAccountId": EMULATED_ACCOUNT}
DEV = samconfig_parameters()
HAS_PROVIDER = bool(DEV.get("CloudflareAccountId") and DEV.get("CloudflareApiTokenParam"))
# Without a provider every function refuses to start (a cold-start ConfigurationError, as it
# should): the packaging tests then get the Workers AI pair here; the generate tests below
# insist on the profile's own.
PARAMETERS = {
    **(
        {}
        if HAS_PROVIDER
        else {
            "CloudflareAccountId": EMULATED_ACCOUNT,
            "CloudflareApiTokenParam": "/aiimage/dev/cloudflare-api-token",
        }
    ),
    **{
        name: DEPLOYER_VALUES[name] if value.startswith("SET-YOUR-") else value
        for name, value in DEV.items()
    },
}
NO_PROVIDER = "samconfig's dev profile names no Workers AI account and token (issue 17, finding 1)"


def _build_or_skip(build_dir: Path, architecture: str, *resources: str) -> Path:
    try:
        return build.build(build_dir=build_dir, architecture=architecture, resources=resources)
    except build.BuildError as exc:
        pytest.skip(f"the Lambda artifact cannot be built here: {exc}")


@pytest.fixture(scope="session")
def host_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("artifact")
    return _build_or_skip(root / "build", build.host_architecture())


@pytest.fixture(scope="session")
def arm64_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("artifact-arm64")
    return _build_or_skip(root / "build", "arm64", "CommonLayer") / "CommonLayer" / "python"


@pytest.fixture(scope="session")
def generated_events() -> dict[str, dict[str, Any]]:
    """SAM's own sample events, adjusted per call below."""
    try:
        sam = build.find_sam()
    except build.BuildError as exc:
        pytest.skip(str(exc))
    env = {"SAM_CLI_TELEMETRY": "0", "PATH": "/usr/bin:/bin"}

    def generate(*args: str) -> dict[str, Any]:
        command = [str(sam), "local", "generate-event", *args]
        output = subprocess.run(  # noqa: S603 - the pinned SAM CLI
            command, capture_output=True, text=True, check=True, env=env
        )
        event: dict[str, Any] = json.loads(output.stdout)
        return event

    return {
        "http": generate("apigateway", "http-api-proxy"),
        "sqs": generate("sqs", "receive-message"),
    }


# --- the platform: arm64 wheels, bytecode ------------------------------------------------


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is no ELF file"
    return int.from_bytes(header[18:20], "little")


def test_the_arm64_layer_ships_aarch64_wheels_only(arm64_layer: Path) -> None:
    imaging = list((arm64_layer / "PIL").glob("_imaging.cpython-312-*.so"))
    assert [p.name for p in imaging] == ["_imaging.cpython-312-aarch64-linux-gnu.so"]
    assert elf_machine(imaging[0]) == ELF_MACHINES["arm64"]
    libraries = [p for p in arm64_layer.rglob("*.so*") if p.is_file()]
    assert len(libraries) > 20  # Pillow's codecs, pydantic-core, cryptography, cffi …
    assert {p.name: elf_machine(p) for p in libraries} == {
        p.name: ELF_MACHINES["arm64"] for p in libraries
    }


def test_every_module_of_every_artifact_has_unchecked_hash_bytecode(host_build: Path) -> None:
    missing = []
    for source in host_build.rglob("*.py"):
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        if not pyc.exists() or int.from_bytes(pyc.read_bytes()[4:8], "little") != 1:
            missing.append(str(source.relative_to(host_build)))
    assert missing == []


def test_the_layer_holds_the_locked_versions(host_build: Path) -> None:
    from infra.requirements import LAYER_LOCK, normalize, pins

    layer = host_build / "CommonLayer" / "python"
    shipped = {}
    for metadata in layer.glob("*.dist-info/METADATA"):
        text = metadata.read_text()
        name = re.search(r"^Name: (.+)$", text, re.MULTILINE)
        ver = re.search(r"^Version: (.+)$", text, re.MULTILINE)
        assert name
        assert ver
        shipped[normalize(name.group(1).strip())] = ver.group(1).strip()
    assert shipped == pins(LAYER_LOCK.read_text())


# --- the handlers, in Lambda's layout ---------------------------------------------------


@dataclass
class Deployment:
    """The dev profile's stack on the moto server, as the artifact's functions see it."""

    template: Template
    resolver: Resolver
    moto: str
    providers: dict[str, str]
    jwt_key: str

    def environment(self, function: Function) -> dict[str, str]:
        return {
            **self.resolver.environment(function),
            **self.providers,
            "AWS_ENDPOINT_URL": self.moto,
            "AWS_ACCESS_KEY_ID": "artifact",
            "AWS_SECRET_ACCESS_KEY": "artifact",
            "AWS_REGION": DEFAULT_REGION,
            "AWS_DEFAULT_REGION": DEFAULT_REGION,
            "AWS_LAMBDA_FUNCTION_NAME": self.resolver.physical_name(function.logical_id),
            "LAMBDA_TASK_ROOT": "/var/task",
            # No X-Ray daemon outside Lambda.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "NO_PROXY": "127.0.0.1,localhost",
            "PATH": "/usr/bin:/bin",
        }

    def token(self, sub: str = "artifact-user", plan: str = "free") -> str:
        claims: dict[str, Any] = {"sub": sub, "plan": plan, "exp": int(time.time()) + 600}
        return jwt.encode(claims, self.jwt_key, algorithm="HS256")


@pytest.fixture(scope="module")
def deployment(moto_server: str) -> Iterator[Deployment]:
    httpx.post(f"{moto_server}/moto-api/reset").raise_for_status()
    template = load_template()
    # Every secret the profile names, in SSM as the deployer creates them.
    secrets_by_param = {
        value: secrets.token_urlsafe(32)
        for name, value in PARAMETERS.items()
        if name.endswith("Param") and value
    }
    # The signing bundle is a PEM key and chain (a session test CA), not a random token.
    secrets_by_param[PARAMETERS["C2paSigningBundleParam"]] = local_signing().bundle
    with pytest.MonkeyPatch.context() as env, ExitStack() as stack:
        env.setenv("AWS_ENDPOINT_URL", moto_server)
        created = create_resources(template, parameters=PARAMETERS, stack_name=STACK)
        put_secure_parameters(secrets_by_param)
        emulator = workers_ai.create_app(
            api_token=secrets_by_param[PARAMETERS["CloudflareApiTokenParam"]],
            account_id=EMULATED_ACCOUNT,
        )
        url = stack.enter_context(serve_in_thread(emulator))
        providers = {"WORKERS_AI_BASE_URL": f"{url}/client/v4"}
        resolver = Resolver(
            template,
            parameters=PARAMETERS,
            physical_names={c.logical_id: c.physical_name for c in created},
            attributes={c.logical_id: c.attributes for c in created},
            stack_name=STACK,
        )
        yield Deployment(
            template,
            resolver,
            moto_server,
            providers,
            secrets_by_param[PARAMETERS["JwtSecretParam"]],
        )


def invoke(
    build_dir: Path, deployment: Deployment, logical_id: str, events: list[dict[str, Any]]
) -> dict[str, Any]:
    """Run the function's Handler in a fresh interpreter laid out as Lambda lays it out."""
    function = deployment.template.functions[logical_id]
    job = {"handler": function.handler, "function_name": logical_id, "events": events}
    completed = subprocess.run(  # noqa: S603 - the build's own interpreter and our script
        [
            str(build.find_python312()),
            "-I",
            "-S",
            str(RUNTIME),
            str(build_dir / logical_id),
            str(build_dir / "CommonLayer" / "python"),
        ],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=deployment.environment(function),
        timeout=INVOKE_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, f"{logical_id} failed in the artifact:\n{completed.stderr}"
    *log, last = completed.stdout.strip().splitlines()
    report: dict[str, Any] = json.loads(last)
    outside = {
        name: path
        for name, path in report["loaded_from"].items()
        if not path.startswith(str(build_dir))
    }
    assert outside == {}, "imported from outside the artifact"
    assert report["bytecode"] == [], "compiled at import time: bytecode missing or stale"
    # The function's own log lines (powertools writes to stdout), for failure messages.
    report["log"] = "\n".join(log) + completed.stderr
    return report


def errors(report: Mapping[str, Any]) -> str:
    """The function's error log lines (the exception first), else the end of its log."""
    log = str(report["log"])
    # A traceback ends with the exception: the end of each error's is what explains it.
    lines = [
        str(json.loads(line).get("exception", line))[-1200:]
        for line in log.splitlines()
        if line.startswith("{") and '"level":"ERROR"' in line
    ]
    return "\n".join(lines) or log[-3000:]


def http_event(
    generated: Mapping[str, Any],
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    cookies: list[str] | None = None,
    body: bytes | None = None,
    route: str | None = None,
) -> dict[str, Any]:
    """SAM's http-api-proxy sample, addressed to one route of the deployed API."""
    event = copy.deepcopy(dict(generated))
    route_key = f"ANY {route or path}"
    event.update(
        routeKey=route_key,
        rawPath=path,
        rawQueryString="",
        queryStringParameters=None,
        pathParameters=None,
        stageVariables=None,
        headers={"host": API_HOST, "user-agent": "artifact-test", **(headers or {})},
        cookies=cookies or [],
        body=base64.b64encode(body).decode() if body is not None else None,
        isBase64Encoded=body is not None,
    )
    context = event["requestContext"]
    context.pop("authorizer", None)  # no JWT authorizer in the dev profile
    context.pop("authentication", None)
    context.update(routeKey=route_key, domainName=API_HOST, domainPrefix=API_HOST.split(".")[0])
    context["http"].update(method=method, path=path, sourceIp="203.0.113.7")
    return event


def sqs_event(generated: Mapping[str, Any], queue_arn: str, body: str) -> dict[str, Any]:
    event = copy.deepcopy(dict(generated))
    (record,) = event["Records"]
    record.update(body=body, eventSourceARN=queue_arn)
    return event


def body_of(response: Mapping[str, Any]) -> bytes:
    raw = response.get("body") or ""
    return base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()


def envelope(response: Mapping[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(body_of(response))
    return decoded


def set_cookies(response: Mapping[str, Any]) -> dict[str, str]:
    pairs = (c.split(";", 1)[0].split("=", 1) for c in response.get("cookies") or [])
    return dict(pairs)


def picture() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def multipart(fields: Mapping[str, str], image: bytes) -> tuple[str, bytes]:
    boundary = "artifact" + secrets.token_hex(8)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + image
        + b"\r\n"
    )
    return f"multipart/form-data; boundary={boundary}", b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode()


SD15 = "@cf/runwayml/stable-diffusion-v1-5-img2img"


def test_every_handler_of_the_template_imports_from_the_artifact(
    host_build: Path, deployment: Deployment
) -> None:
    functions = sorted(deployment.template.functions)
    assert len(functions) == 11
    for logical_id in functions:
        invoke(host_build, deployment, logical_id, [])


def test_the_http_handlers_answer_sam_generated_events(
    host_build: Path, deployment: Deployment, generated_events: dict[str, dict[str, Any]]
) -> None:
    http = generated_events["http"]
    calls = {
        "UsageApiFunction": (http_event(http, "GET", "/api/ai-image/usage"), 200),
        "UploadsApiFunction": (http_event(http, "GET", "/api/ai-image/uploads"), 405),
        "JobsApiFunction": (
            http_event(
                http,
                "GET",
                f"/api/ai-image/jobs/{'0' * 29}",
                route="/api/ai-image/jobs/{job_id}",
                headers={"authorization": f"Bearer {deployment.token()}"},
            ),
            404,
        ),
        "DeliveryApiFunction": (
            http_event(http, "GET", "/r2-ai/nowhere/a.webp", route="/r2-ai/{key+}"),
            404,
        ),
        "AiEditsApiFunction": (
            http_event(
                http,
                "GET",
                "/api/v1/events/no-such-event/ai-styles",
                route="/api/v1/events/{token}/ai-styles",
            ),
            404,
        ),
    }
    for logical_id, (event, status) in calls.items():
        (response,) = invoke(host_build, deployment, logical_id, [event])["responses"]
        assert response["statusCode"] == status, (logical_id, body_of(response)[:400])


def test_the_pages_and_their_static_files_come_from_the_artifact(
    host_build: Path, deployment: Deployment, generated_events: dict[str, dict[str, Any]]
) -> None:
    http = generated_events["http"]
    static = sorted(p.name for p in (ROOT / "functions" / "web_app" / "static").iterdir())
    events = [http_event(http, "GET", "/tools/imag-enhancer/app")] + [
        http_event(http, "GET", f"/static/{name}", route="/static/{path+}") for name in static
    ]
    report = invoke(host_build, deployment, "WebAppFunction", events)
    page, *assets = report["responses"]
    assert page["statusCode"] == 200, errors(report)
    assert b"<html" in body_of(page).lower()
    assert [a["statusCode"] for a in assets] == [200] * len(static), errors(report)
    for name, asset in zip(static, assets, strict=True):
        assert body_of(asset) == (ROOT / "functions" / "web_app" / "static" / name).read_bytes()


def test_the_sqs_workers_answer_sam_generated_events(
    host_build: Path, deployment: Deployment, generated_events: dict[str, dict[str, Any]]
) -> None:
    for function in deployment.template.functions.values():
        for source in function.sqs_events:
            arn = str(deployment.resolver.resolve(source.queue, function.logical_id))
            body = json.dumps({"job_id": "job-unknown", "request_id": "req-unknown"})
            event = sqs_event(generated_events["sqs"], arn, body)
            (answer,) = invoke(host_build, deployment, function.logical_id, [event])["responses"]
            assert isinstance(answer, dict), (function.logical_id, answer)
            assert set(answer) == {"batchItemFailures"}, (function.logical_id, answer)


@pytest.mark.xfail(not HAS_PROVIDER, reason=NO_PROVIDER, strict=True)
def test_generate_with_the_dev_parameters_answers_200_through_the_provider(
    host_build: Path, deployment: Deployment, generated_events: dict[str, dict[str, Any]]
) -> None:
    assert HAS_PROVIDER, NO_PROVIDER
    content_type, body = multipart({"model": SD15}, picture())
    event = http_event(
        generated_events["http"],
        "POST",
        "/api/ai-image/generate",
        headers={"content-type": content_type, "authorization": f"Bearer {deployment.token()}"},
        body=body,
    )
    (response,) = invoke(host_build, deployment, "GenerateApiFunction", [event])["responses"]
    assert response["statusCode"] == 200, body_of(response)[:600]
    data = envelope(response)["data"]
    assert data["model"] == SD15
    assert data["charge"]["provider"] == "workers_ai"


@pytest.mark.xfail(not HAS_PROVIDER, reason=NO_PROVIDER, strict=True)
def test_a_pages_own_origin_post_is_accepted(
    host_build: Path, deployment: Deployment, generated_events: dict[str, dict[str, Any]]
) -> None:
    """The page served from the API's own origin posts back to it with its cookies."""
    assert HAS_PROVIDER, NO_PROVIDER
    http = generated_events["http"]
    (page,) = invoke(
        host_build, deployment, "UsageApiFunction", [http_event(http, "GET", "/api/ai-image/usage")]
    )["responses"]
    cookies = set_cookies(page)
    assert {"guest_id", "csrf_token"} <= set(cookies)
    content_type, body = multipart({"model": SD15}, picture())
    event = http_event(
        http,
        "POST",
        "/api/ai-image/generate",
        headers={
            "content-type": content_type,
            "origin": f"https://{API_HOST}",
            "x-csrf-token": cookies["csrf_token"],
        },
        cookies=[f"{name}={value}" for name, value in cookies.items()],
        body=body,
    )
    (response,) = invoke(host_build, deployment, "GenerateApiFunction", [event])["responses"]
    assert response["statusCode"] == 200, body_of(response)[:600]
    assert envelope(response)["data"]["charge"]["provider"] == "workers_ai"
