"""C2PA manifests and XMP source types (`aiimage.imaging.provenance`, `aiimage.imaging.xmp`):
what a signed result holds, read back with the SDK's own reader, and the signing material
refused when it is missing, expired, not yet valid or mismatched."""

from __future__ import annotations

import hashlib
import io
import json
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from aiimage.errors import ConfigurationError
from aiimage.imaging import provenance, webp, xmp
from aiimage.imaging.provenance import COMPOSITE, TRAINED, Original, Provenance
from infra.signing import LocalSigning, local_signing

ORIGINAL = b"the original photo's bytes"
EDIT = Provenance("style:watercolor", "runware", Original.of(ORIGINAL, "image/jpeg"), True)
CREATION = Provenance("black-forest-labs/flux-schnell", "replicate")


def encoded(fmt: webp.OutputFormat, mode: str = "RGB", lossless: bool = False) -> bytes:
    image = Image.new(mode, (96, 64), (30, 140, 200, 128)[: len(mode)])
    image.paste((240, 200, 10, 255)[: len(mode)], (0, 0, 48, 32))
    if lossless:
        buffer = io.BytesIO()
        image.save(buffer, "WEBP", lossless=True)
        return buffer.getvalue()
    return webp.encode(image, fmt)


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGBA").tobytes()


CASES = [
    ("image/webp", encoded("WEBP")),  # simple lossy (VP8)
    ("image/webp", encoded("WEBP", "RGBA")),  # extended already (VP8X + ALPH)
    ("image/webp", encoded("WEBP", "RGBA", lossless=True)),  # simple lossless (VP8L)
    ("image/jpeg", encoded("JPEG")),
    ("image/png", encoded("PNG", "RGBA")),
]


@pytest.mark.parametrize(("content_type", "data"), CASES)
def test_the_xmp_source_type_goes_in_without_touching_a_pixel(
    content_type: str, data: bytes
) -> None:
    marked = xmp.with_source_type(data, content_type, COMPOSITE)
    with Image.open(io.BytesIO(marked)) as opened:
        opened.load()
        packet = opened.info.get("xmp") or opened.info.get("XML:com.adobe.xmp")
    assert packet is not None
    text = packet.decode() if isinstance(packet, bytes) else packet
    assert f'Iptc4xmpExt:DigitalSourceType="{COMPOSITE}"' in text
    assert pixels(marked) == pixels(data)
    assert len(marked) - len(data) < len(xmp.packet(COMPOSITE)) + 40


def test_xmp_refuses_bytes_that_are_not_their_container() -> None:
    with pytest.raises(xmp.XmpError):
        xmp.with_source_type(encoded("PNG"), "image/webp", TRAINED)
    with pytest.raises(xmp.XmpError):
        xmp.with_source_type(b"GIF89a", "image/gif", TRAINED)


def actions(report: provenance.ManifestReport) -> list[dict[str, object]]:
    assert report.manifest is not None
    (assertion,) = [a for a in report.manifest["assertions"] if a["label"] == "c2pa.actions.v2"]
    found: list[dict[str, object]] = assertion["data"]["actions"]
    return found


@pytest.mark.parametrize(("content_type", "data"), CASES)
def test_an_edit_is_signed_and_reads_back_trusted_under_the_test_ca(
    content_type: str, data: bytes, c2pa_signing: LocalSigning
) -> None:
    signed = provenance.sign(data, content_type, EDIT)
    report = provenance.read(signed, content_type, trust_anchors=c2pa_signing.ca_pem)
    assert report.validation_state == "Trusted", report.failures
    assert report.failures == []
    assert [a["action"] for a in actions(report)] == [
        "c2pa.opened",
        "c2pa.edited",
        "c2pa.watermarked.unbound",
    ]
    edited = actions(report)[1]
    assert edited["digitalSourceType"] == COMPOSITE
    assert edited["softwareAgent"] == {
        "name": "style:watercolor",
        "org.aiimage.provider": "runware",
    }
    assert report.manifest is not None
    (ingredient,) = report.manifest["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["instance_id"] == "sha256:" + hashlib.sha256(ORIGINAL).hexdigest()
    assert ingredient["metadata"]["org.aiimage.hash"] == {
        "alg": "sha256",
        "hash": hashlib.sha256(ORIGINAL).hexdigest(),
    }
    assert "thumbnail" not in ingredient
    assert "thumbnail" not in report.manifest
    assert report.manifest["claim_generator_info"][0]["name"] == "aiimage"
    assert report.manifest["claim_generator_info"][0]["version"] == provenance.VERSION
    # The XMP packet survives the manifest's insertion.
    assert f'DigitalSourceType="{COMPOSITE}"'.encode() in signed


def test_a_creation_says_created_by_a_trained_model(c2pa_signing: LocalSigning) -> None:
    signed = provenance.sign(encoded("WEBP"), "image/webp", CREATION)
    report = provenance.read(signed, "image/webp", trust_anchors=c2pa_signing.ca_pem)
    assert report.validation_state == "Trusted"
    (created,) = actions(report)
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED
    assert report.manifest is not None
    assert "ingredients" not in report.manifest


def test_without_the_anchor_the_signature_is_valid_but_not_trusted() -> None:
    report = provenance.read(provenance.sign(encoded("WEBP"), "image/webp", EDIT), "image/webp")
    assert report.validation_state == "Valid"
    assert report.failures == ["signingCredential.untrusted"]


@pytest.mark.parametrize(("content_type", "data"), CASES)
def test_one_changed_byte_of_the_picture_fails_validation(
    content_type: str, data: bytes, c2pa_signing: LocalSigning
) -> None:
    signed = bytearray(provenance.sign(data, content_type, EDIT))
    # A byte of the encoded picture itself, not of the manifest: the start of the picture's
    # data, which the signed hash covers and the manifest never does.
    at = bytes(signed).find(data[-24:-16])
    assert at > 0
    signed[at] ^= 0x01
    report = provenance.read(bytes(signed), content_type, trust_anchors=c2pa_signing.ca_pem)
    assert report.validation_state == "Invalid"
    assert report.failures  # a hash mismatch, or a container no longer parseable


def test_an_unsigned_file_reads_as_invalid_without_a_manifest() -> None:
    report = provenance.read(encoded("WEBP"), "image/webp")
    assert report.validation_state == "Invalid"
    assert report.manifest is None


def test_a_prompt_is_in_the_manifest_only_when_passed(c2pa_signing: LocalSigning) -> None:
    signed = provenance.sign(encoded("WEBP"), "image/webp", EDIT)
    assert b"watercolor of the lake" not in signed
    with_prompt = Provenance("m", "local", prompt="watercolor of the lake")
    report = provenance.read(
        provenance.sign(encoded("WEBP"), "image/webp", with_prompt), "image/webp"
    )
    assert actions(report)[0]["description"] == "watercolor of the lake"


def test_a_type_that_cannot_be_marked_is_refused_not_stored_unmarked() -> None:
    with pytest.raises(ConfigurationError):
        provenance.sign(b"GIF89a", "image/gif", EDIT)


def test_the_claim_generator_version_is_the_projects() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == provenance.VERSION


# --- signing material ----------------------------------------------------------------------


def test_a_missing_bundle_fails_closed(settings_env: Callable[..., None]) -> None:
    settings_env(C2PA_SIGNING_BUNDLE="")
    with pytest.raises(ConfigurationError, match="C2PA_SIGNING_BUNDLE"):
        provenance.check_signing_ready()
    with pytest.raises(ConfigurationError):
        provenance.sign(encoded("WEBP"), "image/webp", EDIT)


def test_an_expired_certificate_fails_closed(settings_env: Callable[..., None]) -> None:
    expired = local_signing(valid_for=timedelta(days=1), now=datetime.now(UTC) - timedelta(days=3))
    settings_env(C2PA_SIGNING_BUNDLE=expired.bundle)
    with pytest.raises(ConfigurationError, match="expired"):
        provenance.check_signing_ready()
    with pytest.raises(ConfigurationError, match="expired"):
        provenance.sign(encoded("WEBP"), "image/webp", EDIT)


def test_a_certificate_not_yet_valid_fails_closed(settings_env: Callable[..., None]) -> None:
    future = local_signing(now=datetime.now(UTC) + timedelta(days=2))
    settings_env(C2PA_SIGNING_BUNDLE=future.bundle)
    with pytest.raises(ConfigurationError, match="not valid yet"):
        provenance.check_signing_ready()


def test_a_material_expiring_while_cached_is_refused_from_then_on() -> None:
    material = provenance.signing_material(local_signing(valid_for=timedelta(hours=1)).bundle)
    material.check_valid(datetime.now(UTC))
    with pytest.raises(ConfigurationError, match="expired"):
        material.check_valid(datetime.now(UTC) + timedelta(hours=2))


def _other_key_pem(curve: ec.EllipticCurve) -> str:
    key = ec.generate_private_key(curve)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _certificates(bundle: str) -> str:
    return bundle[bundle.index("-----BEGIN CERTIFICATE-----") :]


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        ("not a pem at all", "one private key"),
        (_certificates(local_signing().bundle), "one private key"),
        (_other_key_pem(ec.SECP256R1()), "one private key"),  # a key without a chain
        (_other_key_pem(ec.SECP256R1()) + _certificates(local_signing().bundle), "belong"),
        (_other_key_pem(ec.SECP384R1()) + _certificates(local_signing().bundle), "P-256"),
        (
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            + _certificates(local_signing().bundle),
            "readable",
        ),
    ],
)
def test_a_bundle_without_a_usable_key_and_chain_is_a_configuration_error(
    bundle: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        provenance.signing_material(bundle)


def test_the_manifest_definition_names_no_owner_and_no_prompt() -> None:
    definition = json.dumps(provenance.manifest_definition(EDIT, "image/webp"))
    for personal in ("guest", "user", "owner", "requested_by", "prompt"):
        assert personal not in definition
