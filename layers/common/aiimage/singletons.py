"""Process-wide singletons: values built once per process and reused across warm invocations.

Settings, boto3 clients, repositories and provider clients are built on first use from the
environment. A factory decorated with `@singleton` is a `functools.cache` that registers
itself, so whoever changes the environment of a running process (tests, the local stack)
forgets every one of them with a single `reset_singletons()` instead of knowing each cache
by name.

A pure memoisation whose value does not depend on the environment (a compiled pattern, the
libwebp handle) is not a singleton and stays a plain `functools` cache.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from functools import _lru_cache_wrapper

T = TypeVar("T")

_registry: list[_lru_cache_wrapper[Any]] = []


def singleton(factory: Callable[..., T]) -> _lru_cache_wrapper[T]:
    """`factory` cached for the process (per distinct arguments), and registered so that
    `reset_singletons()` forgets it."""
    cached = cache(factory)
    _registry.append(cached)
    return cached


def reset_singletons() -> None:
    """Forget every singleton: the next call of each builds it again from the environment."""
    for cached in _registry:
        cached.cache_clear()
