"""`make dev`: the platform on one machine, built from template.yaml, no AWS account needed.

One process: a moto server with every table, queue and bucket of the template, the
secrets the template's parameters name (as SSM SecureStrings, with fixed local-only
values), every function's environment as the template sets it, and the HttpApi routes
served by uvicorn. The functions read their settings when imported, so they are imported
only once that environment is in place.

    python -m infra.local [--host 127.0.0.1] [--port 3000] [--moto-port 5100] [--emulators]

Image providers: the Pillow `local` provider by default (offline); with `--emulators` the
Workers AI and Replicate emulators are started too and the real clients talk to them.
Functions with SQS events get a poller that feeds them real SQS event JSON.

Port 0 picks a free port. Once requests are accepted, one line `LOCAL_STACK_READY {json}`
(API URL, moto endpoint, demo tokens) is printed for scripts and tests to wait for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import jwt
import uvicorn
from moto.server import ThreadedMotoServer

from aiimage.http.security import SECURITY_HEADERS
from aiimage.singletons import reset_singletons
from infra.emulation import serialize_dynamodb
from infra.emulators.server import serve_in_thread
from infra.gateway import HttpApiGateway, build_gateway, load_handler
from infra.resources import CreatedResource, create_resources, put_secure_parameters
from infra.seed_edits import DemoCatalog, seed_demo
from infra.signing import local_signing
from infra.sqs_poller import LambdaContext, SqsPoller
from infra.template import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    Function,
    Resolver,
    Template,
    TemplateError,
    load_template,
)

READY_PREFIX = "LOCAL_STACK_READY"

GUEST_COOKIE_KEY_PARAM = "/aiimage/local/guest-cookie-secret"
JWT_KEY_PARAM = "/aiimage/local/jwt-secret"
# Fixed, so a browser's or curl's cookie jar and minted tokens survive a restart. Local
# only: AWS deployments read their own SSM parameters (samconfig.toml names them).
LOCAL_SECRETS = {
    GUEST_COOKIE_KEY_PARAM: "local-only-guest-cookie-hmac-key-never-use-in-aws",
    JWT_KEY_PARAM: "local-only-jwt-hs256-signing-key-never-use-in-aws",
}
CLOUDFLARE_TOKEN_PARAM = "/aiimage/local/cloudflare-api-token"  # noqa: S105 - a name
REPLICATE_TOKEN_PARAM = "/aiimage/local/replicate-api-token"  # noqa: S105 - a name
RUNWARE_KEY_PARAM = "/aiimage/local/runware-api-key"
EMULATOR_SECRETS = {
    CLOUDFLARE_TOKEN_PARAM: "local-only-workers-ai-emulator-token",
    REPLICATE_TOKEN_PARAM: "r8_local-only-replicate-emulator-token",
    RUNWARE_KEY_PARAM: "local-only-runware-emulator-key",
}
# The C2PA signing identity of this session: a fresh local test CA and leaf, not trusted
# by any verifier (infra.signing); the functions read it from SSM as they would in AWS.
C2PA_SIGNING_PARAM = "/aiimage/local/c2pa-signing-bundle"
EMULATED_ACCOUNT = "00000000000000000000000000000000"
DEMO_USERS = {
    "free": "demo-free-user",
    "pro": "demo-pro-user",
    "tenant": "demo-tenant-admin",
    "admin": "demo-superadmin",
}
# Extra claims of the demo users: the tenant admin acts for the seeded demo tenant; the
# superadmin (the runbooks' $ADMIN) holds the role and the free plan for the Enhancer.
DEMO_CLAIMS: dict[str, dict[str, str | list[str]]] = {
    "tenant": {"tenant_id": "demo-tenant"},
    "admin": {"plan": "free", "roles": ["superadmin"]},
}
DEMO_TOKEN_TTL_SECONDS = 12 * 3600

# Would shadow what the template configures (a secret set directly wins over its SSM
# parameter; a profile would override the local credentials), so the stack drops them.
_SHADOWING_ENV = (
    "GUEST_COOKIE_SECRET",
    "JWT_SECRET",
    "C2PA_SIGNING_BUNDLE",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
)

logger = logging.getLogger("infra.local")


@dataclass(frozen=True, slots=True)
class LocalStack:
    api: str
    moto: str
    created: Sequence[CreatedResource]
    gateway: HttpApiGateway
    tokens: Mapping[str, str]
    pollers: Sequence[SqsPoller] = ()
    emulators: Mapping[str, str] | None = None
    edits_demo: DemoCatalog | None = None
    schedules: Sequence[ScheduledInvoker] = ()


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_DAILY_CRON = re.compile(r"^cron\((\d{1,2}) (\d{1,2}) \* \* \? \*\)$")


def next_run(expression: str, after: datetime) -> datetime:
    """When an EventBridge schedule fires next after `after` (UTC): `rate(N unit)`, or a
    daily `cron(M H * * ? *)`; other expressions are a TemplateError (not silently never)."""
    if match := _RATE.match(expression):
        unit = match.group(2).rstrip("s") + "s"
        return after + timedelta(**{unit: int(match.group(1))})
    if match := _DAILY_CRON.match(expression):
        minute, hour = int(match.group(1)), int(match.group(2))
        candidate = after.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return candidate if candidate > after else candidate + timedelta(days=1)
    raise TemplateError(f"The local stack cannot run the schedule {expression!r}")


@dataclass(frozen=True, slots=True)
class Schedule:
    function: str
    handler: str
    expression: str
    input: Mapping[str, Any]


def schedules_of(template: Template, functions: Iterable[Function]) -> list[Schedule]:
    """The `Schedule` events of the active functions, as EventBridge would invoke them."""
    found = []
    for function in functions:
        events = template.resources[function.logical_id].properties.get("Events") or {}
        for event in events.values():
            if event.get("Type") != "Schedule":
                continue
            properties = event.get("Properties") or {}
            expression = str(properties["Schedule"])
            next_run(expression, datetime.now(UTC))  # refuse what cannot run, at start-up
            found.append(
                Schedule(
                    function=function.logical_id,
                    handler=function.handler,
                    expression=expression,
                    input=json.loads(properties.get("Input") or "{}"),
                )
            )
    return found


class ScheduledInvoker(threading.Thread):
    """Invokes one function on its schedule (the first run one interval after start, as
    EventBridge does); a failed run is logged and the schedule goes on."""

    def __init__(self, schedule: Schedule) -> None:
        super().__init__(name=f"schedule-{schedule.function}", daemon=True)
        self.schedule = schedule
        self._handler = load_handler(schedule.handler)
        self._stopped = threading.Event()

    def run(self) -> None:
        due = next_run(self.schedule.expression, datetime.now(UTC))
        while not self._stopped.wait(max(0.0, (due - datetime.now(UTC)).total_seconds())):
            try:
                self._handler(dict(self.schedule.input), LambdaContext(self.schedule.function))
            except Exception:
                logger.exception("scheduled run of %s failed", self.schedule.function)
            due = next_run(self.schedule.expression, datetime.now(UTC))

    def stop(self) -> None:
        self._stopped.set()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="IPv4 address to listen on")
    parser.add_argument("--port", type=int, default=3000, help="API port (0: any free port)")
    parser.add_argument("--moto-port", type=int, default=5100, help="moto port (0: any free)")
    parser.add_argument("--stack-name", default=DEFAULT_STACK_NAME, help="prefix of names")
    parser.add_argument(
        "--emulators",
        action="store_true",
        default=os.environ.get("EMULATORS") == "1",
        help="serve Workers AI and Replicate emulators and use them (env EMULATORS=1)",
    )
    return parser.parse_args(argv)


def bind(host: str, port: int) -> socket.socket:
    """Bind the API socket first: with port 0 the origins in the environment need the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def merged_environment(resolver: Resolver, functions: Iterable[Function]) -> dict[str, str]:
    """One process serves every function, so their environments must agree."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for function in functions:
        for name, value in resolver.environment(function).items():
            if name in merged and merged[name] != value:
                raise SystemExit(
                    f"{name} differs between {owner[name]} and {function.logical_id}; the local "
                    "stack runs all functions in one process and cannot give both their value"
                )
            merged[name], owner[name] = value, function.logical_id
    return merged


def demo_tokens(environment: Mapping[str, str]) -> dict[str, str]:
    """HS256 tokens for the demo users, with the issuer and audience the functions expect."""
    now = int(time.time())
    claims: dict[str, str | int | list[str]] = {"iat": now, "exp": now + DEMO_TOKEN_TTL_SECONDS}
    if environment.get("JWT_ISSUER"):
        claims["iss"] = environment["JWT_ISSUER"]
    if environment.get("JWT_AUDIENCE"):
        claims["aud"] = environment["JWT_AUDIENCE"]
    key = LOCAL_SECRETS[JWT_KEY_PARAM]
    return {
        plan: jwt.encode(
            {**claims, "sub": user, "plan": plan, **DEMO_CLAIMS.get(plan, {})},
            key,
            algorithm="HS256",
        )
        for plan, user in DEMO_USERS.items()
    }


def start_emulators(args: argparse.Namespace, resources: ExitStack) -> dict[str, str]:
    """Serve the provider emulators in threads; the base URLs their clients use."""
    from infra.emulators import replicate, runware, workers_ai

    workers_ai_url = resources.enter_context(
        serve_in_thread(
            workers_ai.create_app(
                api_token=EMULATOR_SECRETS[CLOUDFLARE_TOKEN_PARAM], account_id=EMULATED_ACCOUNT
            ),
            host=args.host,
        )
    )
    replicate_url = resources.enter_context(
        serve_in_thread(
            replicate.create_app(api_token=EMULATOR_SECRETS[REPLICATE_TOKEN_PARAM]),
            host=args.host,
        )
    )
    runware_url = resources.enter_context(
        serve_in_thread(
            runware.create_app(api_key=EMULATOR_SECRETS[RUNWARE_KEY_PARAM], polls_until_done=2),
            host=args.host,
        )
    )
    return {
        "WORKERS_AI_BASE_URL": f"{workers_ai_url}/client/v4",
        "REPLICATE_BASE_URL": f"{replicate_url}/v1",
        "RUNWARE_BASE_URL": f"{runware_url}/v1",
    }


def start_pollers(
    resolver: Resolver, functions: Iterable[Function], created: Sequence[CreatedResource]
) -> list[SqsPoller]:
    """One poller per SQS event source, as Lambda's event source mappings do."""
    queues = {c.attributes.get("Arn"): c for c in created if "QueueUrl" in c.attributes}
    pollers = []
    for function in functions:
        for event in function.sqs_events:
            arn = str(resolver.resolve(event.queue, f"{function.logical_id}.Events.Queue"))
            poller = SqsPoller(
                function=function.logical_id,
                handler=load_handler(function.handler),
                queue_url=queues[arn].attributes["QueueUrl"],
                queue_arn=arn,
                batch_size=event.batch_size,
                region=DEFAULT_REGION,
            )
            poller.start()
            pollers.append(poller)
    return pollers


def start(
    args: argparse.Namespace, moto_url: str, api_port: int, resources: ExitStack
) -> LocalStack:
    """Everything between a running moto server and serving requests."""
    api = f"http://{args.host}:{api_port}"
    for name in _SHADOWING_ENV:
        os.environ.pop(name, None)
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), args.host, "localhost"]))
    os.environ.update(
        AWS_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - moto accepts any credentials
        AWS_REGION=DEFAULT_REGION,
        AWS_DEFAULT_REGION=DEFAULT_REGION,
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
    )
    parameters = {
        "Stage": "dev",
        "AppOrigin": f"http://127.0.0.1:{api_port},http://localhost:{api_port}",
        "GuestCookieSecretParam": GUEST_COOKIE_KEY_PARAM,
        "JwtSecretParam": JWT_KEY_PARAM,
        "C2paSigningBundleParam": C2PA_SIGNING_PARAM,
        "LocalProviderEnabled": "true",
    }
    emulators = start_emulators(args, resources) if args.emulators else None
    if emulators:
        parameters.update(
            CloudflareAccountId=EMULATED_ACCOUNT,
            CloudflareApiTokenParam=CLOUDFLARE_TOKEN_PARAM,
            ReplicateApiTokenParam=REPLICATE_TOKEN_PARAM,
            RunwareApiKeyParam=RUNWARE_KEY_PARAM,
        )
        os.environ.update(emulators)
    template = load_template()
    created = create_resources(template, parameters=parameters, stack_name=args.stack_name)
    put_secure_parameters({**LOCAL_SECRETS, **(EMULATOR_SECRETS if emulators else {})})
    signing = local_signing(valid_for=timedelta(days=1))
    put_secure_parameters({C2PA_SIGNING_PARAM: signing.bundle})
    logger.info(
        "C2PA: results are signed by a local test CA, not trusted (valid until %s)",
        f"{signing.not_after:%Y-%m-%d %H:%M} UTC",
    )
    resolver = Resolver(
        template,
        parameters=parameters,
        physical_names={c.logical_id: c.physical_name for c in created},
        attributes={c.logical_id: c.attributes for c in created},
        stack_name=args.stack_name,
    )
    functions = resolver.active_functions()
    environment = merged_environment(resolver, functions)
    os.environ.update(environment)
    os.environ.update(STAGE="local", POWERTOOLS_TRACE_DISABLED="true")
    # Presigned upload URLs point at moto; browsers and curl reach it there.
    os.environ.setdefault("STORAGE_ENDPOINT_URL", moto_url)
    # The demo seed's imports may have read the settings before this environment existed.
    reset_singletons()
    gateway = build_gateway(functions)  # imports the function modules: after the env
    edits_demo = seed_demo(bucket=os.environ["IMAGES_BUCKET"])
    return LocalStack(
        api=api,
        moto=moto_url,
        created=created,
        gateway=gateway,
        tokens=demo_tokens(environment),
        pollers=start_pollers(resolver, functions, created),
        emulators=emulators,
        edits_demo=edits_demo,
        schedules=start_schedules(template, functions),
    )


def start_schedules(template: Template, functions: Iterable[Function]) -> list[ScheduledInvoker]:
    """One thread per Schedule event, as EventBridge rules invoke the function in AWS."""
    invokers = [ScheduledInvoker(schedule) for schedule in schedules_of(template, functions)]
    for invoker in invokers:
        invoker.start()
    return invokers


def summary(stack: LocalStack) -> str:
    lines = [f"aiimage local stack (template.yaml, region {DEFAULT_REGION})"]
    lines.append(f"  moto   {stack.moto}")
    lines += [f"  {c.summary}" for c in stack.created]
    lines += [f"  ssm    {name} (SecureString, local-only value)" for name in LOCAL_SECRETS]
    lines.append(f"  ssm    {C2PA_SIGNING_PARAM} (C2PA signing: local test CA, not trusted)")
    lines += [
        f"  route  {r.method} {r.path} -> {r.function} ({r.handler})" for r in stack.gateway.routes
    ]
    lines += [f"  poller {p.function} <- {p.queue_url}" for p in stack.pollers]
    lines += [
        f"  schedule {s.expression} -> {s.function} {json.dumps(s.input)}"
        for s in (invoker.schedule for invoker in stack.schedules)
    ]
    for name, url in (stack.emulators or {}).items():
        lines.append(f"  emulator {name.removesuffix('_BASE_URL').lower()} {url}")
    lines.append(f"  api    {stack.api}")
    lines.append(f"  page   {stack.api}/tools/imag-enhancer/app  (the Enhancer; ?lang=en)")
    if stack.edits_demo is not None:
        lines.append(f"  page   {stack.api}/e/{stack.edits_demo.join_token}  (Magic Edits, demo)")
    lines.append(f"demo users (HS256 bearer tokens, valid {DEMO_TOKEN_TTL_SECONDS // 3600} h):")
    lines += [f"  {plan:<6} {DEMO_USERS[plan]:<17} {token}" for plan, token in stack.tokens.items()]
    usage = f"{stack.api}/api/ai-image/usage"
    lines.append("try:")
    lines.append(f"  curl -s -c /tmp/aiimage.jar -b /tmp/aiimage.jar {usage}")
    lines.append(f'  curl -s -H "Authorization: Bearer {stack.tokens["pro"]}" {usage}')
    if stack.edits_demo is not None:
        demo = stack.edits_demo
        guest = f"{stack.api}/api/v1/events/{demo.join_token}"
        lines.append("magic edits (demo tenant, event and photo seeded):")
        lines.append(f"  curl -s {guest}/ai-styles")
        # A cookie-authenticated create: the guest cookie, and the double-submit CSRF token.
        lines.append("  CSRF=$(openssl rand -hex 16)")
        lines.append(
            f'  curl -s -H "Origin: {stack.api}" -H "X-CSRF-Token: $CSRF" '
            '-H "Content-Type: application/json" '
            '-H "Cookie: csrf_token=$CSRF; guest_id=$(awk \'$6=="guest_id"{print $7}\' '
            '/tmp/aiimage.jar)" '  # noqa: S108 - printed for the user
            f'-d \'{{"style_key":"{demo.style_keys[0]}"}}\' '
            f"{guest}/photos/{demo.photo_id}/ai-edits"
        )
        tenant = stack.tokens.get("tenant")
        if tenant:
            lines.append(
                f'  curl -s -H "Authorization: Bearer {tenant}" '
                f"{stack.api}/api/v1/tenant/events/{demo.event_slug}/ai-edits"
            )
    return "\n".join(lines)


DEMO_SIGN_IN_PATH = "/local/demo-token"


class DemoSignIn:
    """The local stack's demo sign-in, in front of the gateway: `GET /local/demo-token`
    lists the demo users' plans, `?plan=<plan>` answers that user's bearer token (the ones
    the summary prints). It exists only here, never in template.yaml: in AWS a user signs
    in with the identity provider. The Enhancer page offers it when the stage is `local`."""

    def __init__(self, app: Any, tokens: Mapping[str, str]) -> None:
        self.app = app
        self.tokens = dict(tokens)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != DEMO_SIGN_IN_PATH:
            await self.app(scope, receive, send)
            return
        query = dict(
            part.split("=", 1) for part in scope["query_string"].decode().split("&") if "=" in part
        )
        plan = query.get("plan")
        status, body = 200, {"success": True, "data": {"plans": sorted(self.tokens)}}
        if plan is not None:
            token = self.tokens.get(plan)
            status = 200 if token else 404
            body = (
                {"success": True, "data": {"plan": plan, "user": DEMO_USERS[plan], "token": token}}
                if token
                else {"success": False, "error": {"type": "not_found", "code": "not_found"}}
            )
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-store"),
            *SECURITY_HEADERS,  # as every answer of the API's origin
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def serve(stack: LocalStack, sock: socket.socket) -> None:
    """Serve until a signal; announce readiness once uvicorn accepts connections."""
    # proxy_headers off: uvicorn would otherwise take the client address from
    # X-Forwarded-For for any request from 127.0.0.1, so a local script could claim any
    # network; API Gateway's sourceIp is the TCP peer, and so is the local one.
    config = uvicorn.Config(
        DemoSignIn(stack.gateway, stack.tokens),
        lifespan="off",
        ws="none",
        log_level="info",
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if server.started:
        ready = {
            "api": stack.api,
            "moto": stack.moto,
            "tokens": stack.tokens,
            "emulators": stack.emulators,
        }
        print(f"{READY_PREFIX} {json.dumps(ready)}", flush=True)
    await serving


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM shuts down as cleanly as Ctrl-C


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    logging.getLogger("botocore").setLevel(logging.WARNING)  # credential/endpoint discovery
    signal.signal(signal.SIGTERM, _interrupt)
    serialize_dynamodb()
    sock = bind(args.host, args.port)
    moto = ThreadedMotoServer(ip_address=args.host, port=args.moto_port, verbose=False)
    moto.start()
    resources = ExitStack()
    stack: LocalStack | None = None
    try:
        moto_host, moto_port = moto.get_host_and_port()
        stack = start(args, f"http://{moto_host}:{moto_port}", sock.getsockname()[1], resources)
        print(summary(stack), flush=True)
        asyncio.run(serve(stack, sock))
    except KeyboardInterrupt:
        logger.info("interrupted")
    finally:
        for poller in stack.pollers if stack else ():
            poller.stop()
        for invoker in stack.schedules if stack else ():
            invoker.stop()
        resources.close()
        sock.close()
        moto.stop()
        logger.info("stopped: API and moto server")


if __name__ == "__main__":
    main()
