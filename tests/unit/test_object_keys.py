"""Object keys: built only from validated parts; parsed strictly by the delivery proxy and,
for quarantined uploads, by generate."""

from __future__ import annotations

import pytest

from aiimage.errors import NotFoundError, ValidationError
from aiimage.identity import Identity
from aiimage.storage.keys import (
    QUARANTINE_PREFIX,
    InvalidKeyError,
    new_key,
    parse_key,
    parse_upload_key,
    photo_display_key,
    photo_key,
    quarantined,
)

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


def test_an_upload_key_lives_in_quarantine_and_only_generate_parses_it() -> None:
    key = new_key("uploads", GUEST, "image/jpeg")
    assert str(key).startswith(f"{QUARANTINE_PREFIX}ai-enhancer/uploads/guest/{'a' * 32}/")
    assert parse_upload_key(str(key)) == key
    # The delivery proxy serves no upload, quarantined or not.
    for raw in (str(key), str(key).removeprefix(QUARANTINE_PREFIX)):
        with pytest.raises(NotFoundError):
            parse_key(raw)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (f"ai-enhancer/uploads/guest/{'a' * 32}/{'0' * 32}.jpg", NotFoundError),  # not quarantined
        (f"quarantine/ai-enhancer/originals/guest/{'a' * 32}/{'0' * 32}.jpg", NotFoundError),
        (f"quarantine/events/party/photos/photo-{'0' * 24}.jpg", NotFoundError),
        (f"quarantine/ai-enhancer/uploads/guest/../{'0' * 32}.jpg", InvalidKeyError),
        (f"quarantine/ai-enhancer/uploads/guest/{'a' * 32}/x.jpg", InvalidKeyError),
        (f"quarantine//ai-enhancer/uploads/guest/{'a' * 32}/{'0' * 32}.jpg", InvalidKeyError),
    ],
)
def test_an_upload_key_is_parsed_as_strictly(raw: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_upload_key(raw)


def test_photo_keys_publish_outside_quarantine() -> None:
    published = photo_key("party", "photo-1", "image/png")
    assert published == "events/party/photos/photo-1.png"
    assert quarantined(published) == "quarantine/events/party/photos/photo-1.png"
    assert photo_display_key("party", "photo-1") == "events/party/photos/photo-1.display.webp"
