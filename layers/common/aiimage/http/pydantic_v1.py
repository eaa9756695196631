"""FastAPI without `pydantic.v1`.

FastAPI refuses pydantic v1 models: for every route's parameters and response model it
asks whether the annotation is a v1 model, and `jsonable_encoder` asks it of every object
it encodes. Each question imports `pydantic.v1` (a second copy of pydantic, tens of ms of
every cold start) and enters a `warnings.catch_warnings()` block. No v1 model can exist
before `pydantic.v1` is imported, and this code base imports it nowhere, so the answer is
"no" until it is imported, and FastAPI's own check from then on: the same answers, without
the import.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from fastapi import encoders
from fastapi._compat import shared

_V1 = "pydantic.v1"


def _unless_v1_imported(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def checked(value: Any) -> bool:
        return _V1 in sys.modules and check(value)

    checked.__wrapped__ = check  # type: ignore[attr-defined]
    return checked


def install() -> None:
    """Idempotent: wraps FastAPI's two v1 checks (where they are looked up) once. A FastAPI
    without them (v1 support gone) is left as it is; the import-graph test would tell."""
    for module, name in (
        (shared, "is_pydantic_v1_model_class"),  # via shared.annotation_is_pydantic_v1
        (encoders, "is_pydantic_v1_model_instance"),  # jsonable_encoder's own import
    ):
        check = getattr(module, name, None)
        if check is not None and not hasattr(check, "__wrapped__"):
            setattr(module, name, _unless_v1_imported(check))
