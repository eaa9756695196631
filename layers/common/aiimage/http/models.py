"""Response models shared by the HTTP apps (they also shape the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from aiimage.errors import ERROR_CODES

T = TypeVar("T")


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Envelope(BaseModel, Generic[T]):
    success: Literal[True] = True
    data: T


class ErrorBody(BaseModel):
    type: str
    code: str = Field(
        json_schema_extra={"enum": list(ERROR_CODES)},
        description="A stable machine code; clients translate by it, not by `message`",
    )
    message: str = Field(description="English, for developers and logs")
    details: dict[str, Any] | None = None


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    error: ErrorBody
    retry_after: int | None = Field(
        default=None,
        alias="retryAfter",
        description="Seconds until a retry can succeed (429 and 503 capacity_exhausted): the "
        "seed system's top-level field, beside `error.details.retryAfter`",
    )
