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

from aiimage import snapstart
from aiimage.credentials import c2pa_signing_bundle
from aiimage.errors import AppError, ConfigurationError
from aiimage.imaging import xmp
from aiimage.observability import LogEvent, logger
from aiimage.settings import get_settings, on_deployed_lambda
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
        definition["ingredients"] = [_by_hash(provenance.original, _ORIGINAL)]
        actions.insert(0, {"action": "c2pa.opened", "parameters": {"ingredientIds": [_ORIGINAL]}})
    if provenance.watermarked:
        actions.append(
            {"action": "c2pa.watermarked.unbound", "description": "the event's visible watermark"}
        )
    definition["assertions"] = [{"label": "c2pa.actions.v2", "data": {"actions": actions}}]
    return definition


def _by_hash(parent: Original, label: str) -> dict[str, Any]:
    """A `parentOf` ingredient named by its SHA-256 alone: no thumbnail, no content."""
    return {
        "title": label,
        "format": parent.content_type,
        "relationship": "parentOf",
        "label": label,
        "instance_id": f"sha256:{parent.sha256}",
        "metadata": {"org.aiimage.hash": {"alg": "sha256", "hash": parent.sha256}},
    }


def sign(data: bytes, content_type: str, provenance: Provenance) -> bytes:
    """`data` (an encoded result) with the XMP source type and a signed C2PA manifest."""
    definition = manifest_definition(provenance, content_type)
    return _signed(data, content_type, provenance.source_type, definition)


# --- a download in another format ----------------------------------------------------------

_STORED: Final = "stored result"


@dataclass(frozen=True, slots=True)
class Making:
    """What a conversion keeps of the stored result's manifest: how it was made."""

    source_type: str
    software_agent: dict[str, Any] | None = None

    @classmethod
    def of(cls, report: ManifestReport, fallback_source_type: str) -> Making:
        """The source type and agent of the stored manifest's making action (`c2pa.created` or
        `c2pa.edited`); for a file without an intact manifest, `fallback_source_type`."""
        if report.manifest is None or report.validation_state == "Invalid":
            return cls(fallback_source_type)
        for assertion in report.manifest.get("assertions") or []:
            if not str(assertion.get("label", "")).startswith("c2pa.actions"):
                continue
            for action in assertion.get("data", {}).get("actions") or []:
                if action.get("digitalSourceType"):
                    return cls(action["digitalSourceType"], action.get("softwareAgent"))
        return cls(fallback_source_type)


def conversion_definition(making: Making, stored: Original, content_type: str) -> dict[str, Any]:
    """The manifest of a download converted from a stored result: the stored file as its
    `parentOf` ingredient by hash, `c2pa.opened` it, `c2pa.transcoded` it (the C2PA action of
    a format change) with the stored making's source type and agent."""
    transcoded: dict[str, Any] = {
        "action": "c2pa.transcoded",
        "digitalSourceType": making.source_type,
        "parameters": {"org.aiimage.from": stored.content_type},
    }
    if making.software_agent:
        transcoded["softwareAgent"] = making.software_agent
    opened = {"action": "c2pa.opened", "parameters": {"ingredientIds": [_STORED]}}
    return {
        "claim_generator_info": [{"name": PRODUCT, "version": VERSION}],
        "title": f"{PRODUCT} result",
        "format": content_type,
        "ingredients": [_by_hash(stored, _STORED)],
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [opened, transcoded]}}],
    }


def sign_conversion(
    stored: bytes,
    stored_type: str,
    converted: bytes,
    content_type: str,
    *,
    fallback_source_type: str,
) -> bytes:
    """`converted` (`stored` re-encoded as `content_type`) as a signed asset of its own, the
    stored file its parent (`conversion_definition`). A stored file without a readable
    manifest (a result stored before signing) is marked with `fallback_source_type`."""
    making = Making.of(read(stored, stored_type), fallback_source_type)
    definition = conversion_definition(making, Original.of(stored, stored_type), content_type)
    return _signed(converted, content_type, making.source_type, definition)


def _signed(data: bytes, content_type: str, source_type: str, definition: dict[str, Any]) -> bytes:
    if content_type not in SIGNED_TYPES:
        raise ConfigurationError(f"results of type {content_type} cannot be marked")
    material = check_signing_ready()
    marked = xmp.with_source_type(data, content_type, source_type)
    import c2pa

    info = c2pa.C2paSignerInfo(  # type: ignore[no-untyped-call]  # ctypes struct, unannotated
        c2pa.C2paSigningAlg.ES256, material.chain_pem, material.key_pem, None
    )
    signer = c2pa.Signer.from_info(info)
    signed = io.BytesIO()
    with c2pa.Builder(definition, context=_context()) as built:
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
            raise _unusable("The C2PA signing certificate is not valid yet", "not_yet_valid")
        if now >= self.not_after:
            raise _unusable(
                f"The C2PA signing certificate expired on {self.not_after:%Y-%m-%d}", "expired"
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
        raise _unusable("The C2PA signing bundle needs one private key and its chain", "incomplete")
    try:
        key = serialization.load_pem_private_key(keys[0], password=None)
        leaf = x509.load_pem_x509_certificate(certs[0])
    except ValueError as exc:
        raise _unusable("The C2PA signing bundle is not readable PEM", "unreadable") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise _unusable("The C2PA signing key must be an ES256 (P-256) key", "wrong_key_type")
    if key.public_key() != leaf.public_key():
        raise _unusable(
            "The C2PA signing key does not belong to the first certificate", "key_mismatch"
        )
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


def _unusable(message: str, reason: str) -> ConfigurationError:
    return ConfigurationError(message, details={"reason": reason})


def check_signing_ready() -> SigningMaterial:
    """The signing material, valid now; `ConfigurationError` (500 `misconfigured`) before any
    provider call or stored byte when it is missing or unusable."""
    material = signing_material(c2pa_signing_bundle().get_secret_value())
    material.check_valid(datetime.now(UTC))
    return material


_logged: set[tuple[str, str]] = set()


def check_at_cold_start() -> None:
    """Fail closed at the cold start of a function that signs, in AWS: an unusable bundle is
    one `configuration_error` log line (code `misconfigured`, alarmed) naming the parameter
    and the reason (`missing`, `expired`, `not_yet_valid`, `key_mismatch`, ...). The init does
    not crash (API Gateway would answer an opaque 500 with no envelope, also on the routes
    that sign nothing); every request that would sign answers the configuration error before
    any provider call, by `check_signing_ready`. With SnapStart the check runs again just
    before the snapshot (a warmer: the bundle it reads is forgotten with the other secrets)."""
    if not on_deployed_lambda():  # locally `make dev` makes a bundle
        return
    _log_if_unusable()
    snapstart.register(_log_if_unusable)


def _log_if_unusable() -> None:
    try:
        check_signing_ready()
    except AppError as exc:  # a ConfigurationError, or SSM refusing the read (503)
        settings = get_settings()
        parameter = settings.c2pa_signing_bundle_param or "C2PA_SIGNING_BUNDLE"
        reason = (exc.details or {}).get("reason") or (
            "missing" if isinstance(exc, ConfigurationError) else "unreadable"
        )
        if (parameter, reason) in _logged:  # once per init, not again before the snapshot
            return
        _logged.add((parameter, reason))
        logger.error(
            LogEvent.CONFIGURATION_ERROR,
            extra={"code": "misconfigured", "parameter": parameter, "reason": reason},
        )


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


class ProvenanceView(BaseModel):
    """A stored result's manifest as the SDK reads it, for its owner (the Enhancer's
    `GET /api/ai-image/provenance` and a Magic Edit's `.../provenance` alike): `Valid`
    (intact, signed), `Trusted` (also by a certificate on the verifier's trust list) or
    `Invalid` (changed, or unsigned)."""

    model_config = ConfigDict(populate_by_name=True)

    key: str
    validation_state: Literal["Valid", "Trusted", "Invalid"] = Field(alias="validationState")
    manifest: dict[str, Any] | None
    failures: list[str]

    @classmethod
    def of(cls, key: str, data: bytes, content_type: str) -> ProvenanceView:
        report = read(data, content_type)
        return cls(
            key=key,
            validation_state=report.validation_state,
            manifest=report.manifest,
            failures=report.failures,
        )
