"""`aiimage.http.pydantic_v1`: FastAPI answers as before, without importing pydantic.v1."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi import encoders
from fastapi._compat import shared

from aiimage.http import pydantic_v1

_PROBE = """\
import sys
import warnings
from aiimage.http import app  # installs the guard
from fastapi import FastAPI
from pydantic import BaseModel
class Answer(BaseModel):
    ok: bool
api = FastAPI()
@api.get("/x", response_model=Answer)
def x() -> Answer:
    return Answer(ok=True)
assert "pydantic.v1" not in sys.modules, "a route imported pydantic.v1"
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pydantic import v1
class Old(v1.BaseModel):
    ok: bool
try:
    @api.get("/old", response_model=Old)
    def old() -> Old:
        return Old(ok=True)
except Exception as exc:
    print(type(exc).__name__)
else:
    print("accepted")
"""


def test_routes_leave_pydantic_v1_unimported_and_v1_models_are_still_refused() -> None:
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "PydanticV1NotSupportedError"


def test_install_is_idempotent() -> None:
    pydantic_v1.install()
    pydantic_v1.install()
    check = shared.is_pydantic_v1_model_class
    assert not hasattr(check.__wrapped__, "__wrapped__")  # type: ignore[attr-defined]
    assert hasattr(encoders.__dict__["is_pydantic_v1_model_instance"], "__wrapped__")


@pytest.mark.parametrize("value", [1, "a", {"a": 1}, object()])
def test_no_v1_model_before_pydantic_v1_is_imported(value: object) -> None:
    pydantic_v1.install()
    if "pydantic.v1" not in sys.modules:
        assert shared.is_pydantic_v1_model_class(type(value)) is False
        assert encoders.__dict__["is_pydantic_v1_model_instance"](value) is False
