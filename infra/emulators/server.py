"""Serve an ASGI app on a free loopback port in a background thread (tests, `make dev`),
or an emulator from its command line."""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


@contextmanager
def serve_in_thread(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Yield the base URL (`http://127.0.0.1:PORT`) while the app is served."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", ws="none", log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("emulator did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def emulator_main(
    doc: str | None,
    argv: list[str] | None,
    *,
    port: int,
    credential: str,
    env: str,
    create: Callable[[argparse.Namespace], ASGIApp],
    options: Callable[[argparse.ArgumentParser], object] | None = None,
) -> None:
    """An emulator's command line: `--host`, `--port`, the API credential `--{credential}`
    (required; `env` by default) and its own `options`; serves `create(args)` until stopped."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument(f"--{credential}", default=os.environ.get(env))
    if options is not None:
        options(parser)
    args = parser.parse_args(argv)
    if not getattr(args, credential):
        parser.error(f"--{credential} (or {env}) is required")
    uvicorn.run(create(args), host=args.host, port=args.port, log_level="info")
