"""Every stored AI result says that it is one (EU AI Act, Art. 50(2)): a signed C2PA manifest
and IPTC's digital source type as XMP, embedded in the encoded bytes.

What a manifest holds (`manifest_definition`): the product and its version as the claim
generator; `c2pa.created` (no source image) or `c2pa.opened` + `c2pa.edited` (an edit of a
photo) with the IPTC digital source type `trainedAlgorithmicMedia` or
`compositeWithTrainedAlgorithmicMedia`; the model and its provider as the software agent; the
original as a `parentOf` ingredient by its SHA-256 only (no thumbnail, no content); for Magic
Edits the event's visible watermark (`c2pa.watermarked.unbound`: a mark not bound to the
manifest). No owner, guest or user id, and no prompt unless the caller passes one.

The bytes are signed as they are: the SDK hashes the container and inserts its JUMBF box; no
pixel is decoded again (the SDK's own thumbnail, which would decode, is off). Signing uses
ES256 with the key and certificate chain of `aiimage.credentials.c2pa_signing_bundle`; a
missing, unreadable, not yet valid or expired certificate raises `ConfigurationError`, so no
result is ever stored unsigned. The SDK (`c2pa`, a native library) loads on the first
signature, not at import: the functions' cold start does not pay for it.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiimage.credentials import c2pa_signing_bundle
from aiimage.errors import ConfigurationError
from aiimage.imaging import xmp
from aiimage.singletons import singleton

if TYPE_CHECKING:
    import c2pa

PRODUCT: Final = "aiimage"
# The platform's release (pyproject's [project].version; tests/unit/test_provenance.py).
VERSION: Final = "0.1.0"
TRAINED: Final = xmp.IPTC_SOURCE_TYPES + "trainedAlgorithmicMedia"
COMPOSITE: Final = xmp.IPTC_SOURCE_TYPES + "compositeWithTrainedAlgorithmicMedia"
SIGNED_TYPES: Final = frozenset({"image/webp", "image/jpeg", "image/png"})
_ORIGINAL: Final = "original"
# The SDK's settings: no thumbnail (it would decode the picture), no network on read.
_SDK_SETTINGS: Final[dict[str, Any]] = {
    "version": 1,
    "builder": {"thumbnail": {"enabled": False}},
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
}


@dataclass(frozen=True, slots=True)
class Original:
    """The photo a result was made from, named by its hash alone."""

    sha256: str
    content_type: str

    @classmethod
    def of(cls, data: bytes, content_type: str) -> Original:
        return cls(hashlib.sha256(data).hexdigest(), content_type)


@dataclass(frozen=True, slots=True)
class Provenance:
    """What made a result: the model and provider, the original (None: made from nothing),
    whether a visible watermark was applied, and a prompt only where policy allows it."""

    model: str
    provider: str
    original: Original | None = None
    watermarked: bool = False
    prompt: str | None = None

    @property
    def source_type(self) -> str:
        return COMPOSITE if self.original is not None else TRAINED


def manifest_definition(provenance: Provenance, content_type: str) -> dict[str, Any]:
    """The manifest the SDK signs, in its JSON definition format."""
    agent = {"name": provenance.model, "org.aiimage.provider": provenance.provider}
    making: dict[str, Any] = {
        "action": "c2pa.edited" if provenance.original else "c2pa.created",
        "digitalSourceType": provenance.source_type,
        "softwareAgent": agent,
    }
    if provenance.prompt:
        making["description"] = provenance.prompt
    actions: list[dict[str, Any]] = [making]
    definition: dict[str, Any] = {
        "claim_generator_info": [{"name": PRODUCT, "version": VERSION}],
        "title": f"{PRODUCT} result",
        "format": content_type,
    }
    if provenance.original is not None:
        digest = provenance.original.sha256
        definition["ingredients"] = [
            {
                "title": _ORIGINAL,
                "format": provenance.original.content_type,
                "relationship": "parentOf",
                "label": _ORIGINAL,
                "instance_id": f"sha256:{digest}",
                "metadata": {"org.aiimage.hash": {"alg": "sha256", "hash": digest}},
            }
        ]
        actions.insert(0, {"action": "c2pa.opened", "parameters": {"ingredientIds": [_ORIGINAL]}})
    if provenance.watermarked:
        actions.append(
            {"action": "c2pa.watermarked.unbound", "description": "the event's visible watermark"}
        )
    definition["assertions"] = [{"label": "c2pa.actions.v2", "data": {"actions": actions}}]
    return definition


def sign(data: bytes, content_type: str, provenance: Provenance) -> bytes:
    """`data` (an encoded result) with the XMP source type and a signed C2PA manifest."""
    if content_type not in SIGNED_TYPES:
        raise ConfigurationError(f"results of type {content_type} cannot be marked")
    marked = xmp.with_source_type(data, content_type, provenance.source_type)
    material = signing_material(c2pa_signing_bundle().get_secret_value())
    material.check_valid(datetime.now(UTC))
    import c2pa

    info = c2pa.C2paSignerInfo(  # type: ignore[no-untyped-call]  # ctypes struct, unannotated
        c2pa.C2paSigningAlg.ES256, material.chain_pem, material.key_pem, None
    )
    signer = c2pa.Signer.from_info(info)
    signed = io.BytesIO()
    with c2pa.Builder(manifest_definition(provenance, content_type), context=_context()) as built:
        built.sign(signer, content_type, io.BytesIO(marked), signed)
    signer.close()
    return signed.getvalue()


# --- signing material ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningMaterial:
    """An ES256 key and its certificate chain (leaf first), as PEM, checked to belong
    together; `check_valid` refuses it outside the leaf's validity."""

    key_pem: bytes
    chain_pem: bytes
    not_before: datetime
    not_after: datetime

    def check_valid(self, now: datetime) -> None:
        if now < self.not_before:
            raise ConfigurationError("The C2PA signing certificate is not valid yet")
        if now >= self.not_after:
            raise ConfigurationError(
                f"The C2PA signing certificate expired on {self.not_after:%Y-%m-%d}"
            )


@functools.lru_cache(maxsize=4)  # per bundle text: a rotated bundle is read anew
def signing_material(bundle: str) -> SigningMaterial:
    """The key and chain of a PEM bundle; ConfigurationError when it holds no usable pair."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    blocks = _pem_blocks(bundle)
    keys = [b for b in blocks if b"PRIVATE KEY" in b.split(b"\n", 1)[0]]
    certs = [b for b in blocks if b.startswith(b"-----BEGIN CERTIFICATE-----")]
    if len(keys) != 1 or not certs:
        raise ConfigurationError("The C2PA signing bundle needs one private key and its chain")
    try:
        key = serialization.load_pem_private_key(keys[0], password=None)
        leaf = x509.load_pem_x509_certificate(certs[0])
    except ValueError as exc:
        raise ConfigurationError("The C2PA signing bundle is not readable PEM") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigurationError("The C2PA signing key must be an ES256 (P-256) key")
    if key.public_key() != leaf.public_key():
        raise ConfigurationError("The C2PA signing key does not belong to the first certificate")
    return SigningMaterial(
        key_pem=keys[0],
        chain_pem=b"".join(certs),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
    )


def _pem_blocks(bundle: str) -> list[bytes]:
    blocks: list[bytes] = []
    current: list[str] = []
    for line in bundle.strip().splitlines():
        if line.startswith("-----BEGIN "):
            current = []
        current.append(line.strip())
        if line.startswith("-----END "):
            blocks.append(("\n".join(current) + "\n").encode())
    return blocks


def check_signing_ready() -> SigningMaterial:
    """Fail closed at a worker's cold start rather than at its first result."""
    material = signing_material(c2pa_signing_bundle().get_secret_value())
    material.check_valid(datetime.now(UTC))
    return material


@singleton
def _context() -> c2pa.Context:
    import c2pa

    return c2pa.Context(settings=c2pa.Settings.from_dict(_SDK_SETTINGS))


# --- reading -------------------------------------------------------------------------------


class ManifestReport(BaseModel):
    """What the SDK reads from a file: its validation state (`Valid`: intact and signed;
    `Trusted`: also by a trusted certificate; `Invalid`: changed, or no manifest), the
    active manifest, and the failure codes."""

    model_config = ConfigDict(frozen=True)

    validation_state: Literal["Valid", "Trusted", "Invalid"] = Field(alias="validationState")
    manifest: dict[str, Any] | None = None
    failures: list[str] = Field(default_factory=list)


def read(data: bytes, content_type: str, *, trust_anchors: str | None = None) -> ManifestReport:
    """The manifest of `data` as the SDK validates it (against `trust_anchors`, PEM, if any)."""
    import c2pa

    settings = dict(_SDK_SETTINGS)
    if trust_anchors:
        settings["trust"] = {"user_anchors": trust_anchors}
    context = c2pa.Context(settings=c2pa.Settings.from_dict(settings))
    try:
        with c2pa.Reader(content_type, io.BytesIO(data), context=context) as reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state() or "Invalid"
    except c2pa.C2paError as exc:  # no manifest, or a container too broken to parse
        return ManifestReport(validationState="Invalid", failures=[type(exc).__name__])
    failures = [status["code"] for status in store.get("validation_status") or []]
    manifest = store.get("manifests", {}).get(store.get("active_manifest", ""))
    return ManifestReport(
        validationState=state if state in ("Valid", "Trusted") else "Invalid",
        manifest=manifest,
        failures=failures,
    )
