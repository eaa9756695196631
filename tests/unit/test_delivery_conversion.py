"""A download converted with `?format=jpeg|png` is a signed C2PA asset of its own (issue 21):
read back with the SDK's reader, it is intact, says `c2pa.transcoded`, keeps the stored
result's digital source type and software agent, names the stored file as its parent by
hash, carries the XMP source type and no owner id; a signing failure is the configuration
error, never an unsigned file. HEAD answers GET's headers without converting, and a download
name with no ASCII keeps `image` for old clients."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from aiimage import aws
from aiimage.enhancer import delivery
from aiimage.identity import guest, sign_guest_id
from aiimage.imaging import provenance, webp
from aiimage.imaging.provenance import COMPOSITE, Original, Provenance
from aiimage.storage.keys import new_key
from delivery_api.app import app
from infra.signing import LocalSigning, local_signing
from tests.conftest import TEST_ENV

pytestmark = pytest.mark.usefixtures("aws_stack")
OWNER_ID = "b" * 32
OWNER = guest(OWNER_ID)
MODEL = "nightmareai/real-esrgan"
MADE = Provenance(MODEL, "replicate", Original.of(b"the uploaded photo", "image/jpeg"))
FORMATS = [("jpeg", "image/jpeg"), ("png", "image/png")]


def webp_result() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 40))
    image.paste((20, 200, 90), (0, 0, 32, 24))
    return webp.encode(image, "WEBP")


def store(body: bytes) -> str:
    key = new_key("results", OWNER, "image/webp")
    aws.s3().put_object(
        Bucket=TEST_ENV["IMAGES_BUCKET"], Key=str(key), Body=body, ContentType="image/webp"
    )
    return str(key)


def owner() -> TestClient:
    client = TestClient(app, base_url="https://app.test")
    client.cookies.set("guest_id", sign_guest_id(OWNER_ID))
    return client


def actions_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    (found,) = [
        a["data"]["actions"] for a in manifest["assertions"] if a["label"] == "c2pa.actions.v2"
    ]
    return list(found)


@pytest.mark.parametrize(("image_format", "mime"), FORMATS)
def test_a_converted_download_is_signed_with_the_stored_result_as_its_parent(
    image_format: str, mime: str, c2pa_signing: LocalSigning
) -> None:
    stored = provenance.sign(webp_result(), "image/webp", MADE)
    key = store(stored)
    with owner() as client:
        response = client.get(f"/r2-ai/{key}", params={"format": image_format, "download": "x"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == mime
    converted = response.content
    report = provenance.read(converted, mime, trust_anchors=c2pa_signing.ca_pem)
    assert report.validation_state == "Trusted", report.failures
    assert report.failures == []
    assert report.manifest is not None
    actions = actions_of(report.manifest)
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.transcoded"]
    assert actions[1]["digitalSourceType"] == COMPOSITE
    assert actions[1]["softwareAgent"] == {"name": MODEL, "org.aiimage.provider": "replicate"}
    assert actions[1]["parameters"]["org.aiimage.from"] == "image/webp"
    (parent,) = report.manifest["ingredients"]
    digest = hashlib.sha256(stored).hexdigest()
    assert parent["relationship"] == "parentOf"
    assert parent["instance_id"] == f"sha256:{digest}"
    assert parent["metadata"]["org.aiimage.hash"] == {"alg": "sha256", "hash": digest}
    assert parent["format"] == "image/webp"
    assert "thumbnail" not in parent
    assert "manifest_data" not in parent  # by hash, never by content
    assert f'Iptc4xmpExt:DigitalSourceType="{COMPOSITE}"'.encode() in converted
    assert OWNER_ID not in json.dumps(report.manifest)
    assert OWNER_ID.encode() not in converted
    with Image.open(io.BytesIO(converted)) as image:
        assert (image.format, image.size) == (image_format.upper(), (64, 48))
    tampered = bytearray(converted)
    tampered[len(tampered) // 2] ^= 0x01
    assert provenance.read(bytes(tampered), mime).validation_state == "Invalid"


@pytest.mark.parametrize(("image_format", "mime"), FORMATS)
def test_a_legacy_result_without_a_manifest_converts_signed_with_the_products_source_type(
    image_format: str, mime: str, c2pa_signing: LocalSigning
) -> None:
    key = store(webp_result())  # stored before results were signed
    with owner() as client:
        response = client.get(f"/r2-ai/{key}", params={"format": image_format})
    assert response.status_code == 200, response.text
    report = provenance.read(response.content, mime, trust_anchors=c2pa_signing.ca_pem)
    assert report.validation_state == "Trusted", report.failures
    assert report.manifest is not None
    transcoded = actions_of(report.manifest)[1]
    assert transcoded["action"] == "c2pa.transcoded"
    assert transcoded["digitalSourceType"] == delivery.LEGACY_SOURCE_TYPE == COMPOSITE
    assert "softwareAgent" not in transcoded
    assert f'DigitalSourceType="{COMPOSITE}"'.encode() in response.content


@pytest.mark.parametrize("bundle", ["", "expired"])
def test_a_conversion_that_cannot_be_signed_is_the_configuration_error_not_a_file(
    bundle: str, settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = store(provenance.sign(webp_result(), "image/webp", MADE))
    if bundle == "expired":
        old = datetime.now(UTC) - timedelta(days=3)
        bundle = local_signing(valid_for=timedelta(days=1), now=old).bundle
    settings_env(C2PA_SIGNING_BUNDLE=bundle)
    decoded: list[bytes] = []
    monkeypatch.setattr(webp, "decode", lambda data, *a, **k: decoded.append(data))
    with owner() as client:
        refused = client.get(f"/r2-ai/{key}", params={"format": "jpeg"})
        as_stored = client.get(f"/r2-ai/{key}")
    assert refused.status_code == 500
    assert refused.headers["content-type"] == "application/json"
    body = refused.json()
    assert body["success"] is False
    assert (body["error"]["type"], body["error"]["code"]) == ("server_error", "misconfigured")
    assert decoded == []  # refused before the picture is decoded
    assert as_stored.status_code == 200  # the stored, signed file still serves


@pytest.mark.parametrize(("image_format", "mime"), FORMATS)
def test_head_of_a_conversion_answers_gets_headers_without_converting(
    image_format: str, mime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = store(provenance.sign(webp_result(), "image/webp", MADE))
    params = {"format": image_format, "download": "写真"}
    with owner() as client:
        got = client.get(f"/r2-ai/{key}", params=params)
        calls: list[object] = []

        def spy(*args: object, **kwargs: object) -> bytes:
            calls.append(args)
            return b""

        monkeypatch.setattr(delivery, "_converted", spy)
        monkeypatch.setattr(webp, "encode", spy)
        head = client.head(f"/r2-ai/{key}", params=params)
    assert calls == []
    assert got.status_code == head.status_code == 200
    assert head.content == b""
    assert "content-length" not in head.headers
    for header in ("content-type", "content-disposition", "etag", "cache-control"):
        assert head.headers[header] == got.headers[header], header
    assert head.headers["content-type"] == mime


def test_head_of_a_conversion_too_large_to_make_is_413_like_get(
    settings_env: Callable[..., None],
) -> None:
    body = provenance.sign(webp_result(), "image/webp", MADE)
    key = store(body)
    settings_env(MAX_PROXY_BYTES=str(len(body) - 1))
    with owner() as client:
        head = client.head(f"/r2-ai/{key}", params={"format": "png"})
    assert head.status_code == 413


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        (
            "写真",
            "image/webp",
            "attachment; filename=\"image.webp\"; filename*=UTF-8''%E5%86%99%E7%9C%9F.webp",
        ),
        (
            "写真 Föhr",
            "image/jpeg",
            "attachment; filename=\"Fohr.jpg\"; filename*=UTF-8''%E5%86%99%E7%9C%9F-F%C3%B6hr.jpg",
        ),
        (
            "Straße",
            "image/png",
            "attachment; filename=\"Strae.png\"; filename*=UTF-8''Stra%C3%9Fe.png",
        ),
    ],
)
def test_a_download_name_without_ascii_falls_back_to_image(
    name: str, content_type: str, expected: str
) -> None:
    assert delivery.attachment(name, content_type) == expected


def test_a_head_that_matches_the_etag_is_304() -> None:
    key = store(provenance.sign(webp_result(), "image/webp", MADE))
    with owner() as client:
        etag = client.get(f"/r2-ai/{key}").headers["etag"]
        head = client.head(f"/r2-ai/{key}", headers={"If-None-Match": etag})
    assert head.status_code == 304
    assert head.headers["etag"] == etag
