"""Opaque page cursors for Query-based listings: the last item's id, base64url-encoded.

The cursor only ever carries an id; the caller's own partition key is added back by the
listing, so a cursor can never address another owner's items."""

from __future__ import annotations

import base64

from aiimage.errors import ValidationError


def encode_cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(item_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        item_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        item_id = ""
    if not item_id.isalnum() or len(item_id) > 64:
        raise ValidationError("Invalid cursor", code="invalid_cursor", details={"field": "cursor"})
    return item_id
