"""The error answers in the OpenAPI description as the API gives them: every refusal is the
error envelope (`ErrorEnvelope`), never FastAPI's `HTTPValidationError` (a parameter that
fails its declared type is a 422 envelope with code `invalid_parameters`, a value the use
case refuses a 400 envelope that names the field). Imported only when a description is
built (`python -m infra.openapi`), never on a request's path."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from aiimage.http.models import ErrorEnvelope

REF = "#/components/schemas/{model}"
_ENVELOPE = {"application/json": {"schema": {"$ref": REF.format(model="ErrorEnvelope")}}}
_COMMON = {
    "400": "Invalid input: `error.code` says what, `error.details.field` names the field",
    "403": "Refused: an unsafe cookie request without same-site Origin and CSRF token, "
    "another owner's object, or what the plan, the policy or a budget does not allow",
}
_INVALID_PARAMETERS = (
    "A parameter fails its declared type or range: `invalid_parameters`, with "
    "`details.errors` (location, message, type; never the input)"
)
_WITH_PATH_PARAMETERS = {"404": "Not found, or not the caller's"}
_WITH_BODY = {"413": "The body or the image is larger than the limit in `error.details`"}
_METHODS = {"get", "put", "post", "delete", "patch", "head"}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite `schema` (a FastAPI app's description) in place; running it twice is a no-op."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    _, definitions = models_json_schema([(ErrorEnvelope, "serialization")], ref_template=REF)
    schemas.update(definitions.get("$defs", {}))
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method in _METHODS:
                _document_operation(path, operation)
    for fastapi_only in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_only, None)
    return schema


def _document_operation(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "422" in responses:  # FastAPI's, for declared parameters: answered as an envelope
        responses["422"] = {"description": _INVALID_PARAMETERS, "content": _ENVELOPE}
    wanted = dict(_COMMON)
    if "{" in path:
        wanted.update(_WITH_PATH_PARAMETERS)
    if "requestBody" in operation:
        wanted.update(_WITH_BODY)
    for status, description in wanted.items():
        responses.setdefault(status, {"description": description, "content": _ENVELOPE})
    operation["responses"] = dict(sorted(responses.items()))
