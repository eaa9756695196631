"""The fuzz suite drives the same local stack as the functional tests."""

from __future__ import annotations

from tests.functional.conftest import local_stack

__all__ = ["local_stack"]
