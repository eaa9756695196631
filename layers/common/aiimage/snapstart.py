"""Lambda SnapStart: what a function's snapshot may hold, and what each restored copy makes
its own (docs/deploy.md, "SnapStart").

With SnapStart, Lambda runs the init phase (imports, the module code of the handler) once
per published version, snapshots the memory, and resumes every new execution environment
of that version from the same snapshot. Whatever init left in memory is therefore shared
by every copy: a cached secret would outlive its rotation in each of them, a pseudo-random
generator would hand them all the same jitter, an open connection would be a dead socket.

`register()`, called once by each handler's module (through `aiimage.http.app.observed`,
`aiimage.workers.sqs_batch_handler` and the scheduled function), installs two runtime hooks
(`snapshot-restore-py`, which Lambda's Python runtime provides):

- `before_snapshot` runs the handler's own warmers (the FastAPI app's middleware stack),
  then forgets every process cache (`reset_singletons()`: the SSM secret cache, the S3
  client that may carry the R2 key, the Magic Edits settings cache, the provider clients
  and their HTTP pools, every boto3 client that ever connected), and builds again only
  what is safe to share: the settings and the DynamoDB, SQS and SSM clients, whose service
  models botocore loads from disk (the slow part), with no connection open yet.
- `after_restore` re-seeds the `random` module from the kernel (its global generator is
  the jitter of every retry: providers' transport, DynamoDB conflicts, the edits' stores,
  the workers' redelivery, botocore's own retries). `secrets`, `uuid.uuid4` and
  `os.urandom` read the kernel, which Lambda re-seeds on restore, so they need nothing.

Outside SnapStart (locally, in tests, with `EnableSnapStart=false`) nothing calls the hooks.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable

from snapshot_restore_py import register_after_restore, register_before_snapshot

from aiimage import aws
from aiimage.observability import LogEvent, logger
from aiimage.settings import get_settings
from aiimage.singletons import reset_singletons

Warmer = Callable[[], object]

_warmers: list[Warmer] = []
_registered = False


def register(*warmers: Warmer) -> None:
    """Install the SnapStart hooks (once per process); `warmers` run before the snapshot,
    before the caches are forgotten, so whatever secret or connection they touch is dropped
    with the rest."""
    global _registered
    _warmers.extend(warmers)
    if not _registered:
        register_before_snapshot(before_snapshot)
        register_after_restore(after_restore)
        _registered = True


def before_snapshot() -> None:
    for warm in _warmers:
        warm()
    forget()
    keep_warm()
    logger.info(LogEvent.SNAPSHOT_PREPARED, warmers=len(_warmers))


def after_restore() -> None:
    random.seed()  # from os.urandom: each restored copy draws its own jitter
    logger.info(LogEvent.SNAPSHOT_RESTORED)


def forget() -> None:
    """Drop every process cache and what it held (secrets, settings caches, clients and
    their pools); a collection closes the sockets of the clients nothing refers to now."""
    reset_singletons()
    gc.collect()


def keep_warm() -> None:
    """Build what every copy may share: the settings and the boto3 clients (service models
    loaded, no request sent, so no connection). The S3 client is built here only when its
    key is not a secret read from SSM: an R2 key must not sit in a snapshot."""
    settings = get_settings()
    aws.dynamodb()
    aws.sqs()
    aws.ssm()
    if settings.storage_secret_access_key_param is None:
        aws.s3()
