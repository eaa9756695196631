"""Object keys: built only from validated parts; parsed strictly by the delivery proxy."""

from __future__ import annotations

import pytest

from aiimage.errors import NotFoundError, ValidationError
from aiimage.identity import Identity
from aiimage.storage.keys import InvalidKeyError, new_key, parse_key

GUEST = Identity(owner_type="guest", owner_id="a" * 32, plan="guest", via="cookie")
OTHER = Identity(owner_type="guest", owner_id="b" * 32, plan="guest", via="cookie")


def test_a_new_key_round_trips_and_names_its_owner() -> None:
    key = new_key("results", GUEST, "image/webp")
    parsed = parse_key(str(key))
    assert parsed == key
    assert str(key).startswith(f"ai-enhancer/results/guest/{'a' * 32}/")
    assert parsed.content_type == "image/webp"
    assert parsed.owned_by(GUEST)
    assert not parsed.owned_by(OTHER)


def test_keys_are_unguessable() -> None:
    assert new_key("results", GUEST, "image/png") != new_key("results", GUEST, "image/png")


@pytest.mark.parametrize(
    "raw",
    [
        "ai-enhancer/results/guest/../user/x/0123456789abcdef0123456789abcdef.webp",
        "ai-enhancer/results//guest/aaaa/0123456789abcdef0123456789abcdef.webp",
        "ai-enhancer/results/guest/aaaa%2F..%2Fb/0123456789abcdef0123456789abcdef.webp",
        "ai-enhancer/results/guest/aaaa/..",
        "ai-enhancer/results/guest/aaaa/0123456789abcdef0123456789abcdef.gif",
        "ai-enhancer/results/guest/aaaa/extra/0123456789abcdef0123456789abcdef.webp",
        "ai-enhancer/results/admin/aaaa/0123456789abcdef0123456789abcdef.webp",
        "ai-enhancer/results/guest/a\\b/0123456789abcdef0123456789abcdef.webp",
        "ai-enhancer/results/guest/aaaa/./0123456789abcdef0123456789abcdef.webp",
        "ai-enhancer/results/guest/aaaa/" + "0" * 600 + ".webp",
    ],
)
def test_traversal_and_malformed_keys_are_refused(raw: str) -> None:
    with pytest.raises(InvalidKeyError) as caught:
        parse_key(raw)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "raw", ["private/secrets.txt", "ai-enhancer/other/x", "ai-enhancer", "", "ai-enhancer/"]
)
def test_unknown_prefixes_are_not_found(raw: str) -> None:
    with pytest.raises(NotFoundError):
        parse_key(raw)


def test_an_owner_id_that_is_no_path_segment_is_refused() -> None:
    weird = Identity(owner_type="user", owner_id="a/b", plan="free", via="bearer")
    with pytest.raises(ValidationError):
        new_key("uploads", weird, "image/png")
