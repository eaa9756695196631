"""`POST /api/ai-image/uploads`: a presigned direct upload to the bucket, so images up to
the 10 MiB (10,485,760-byte) limit never pass through Lambda's 6 MB request payload.

The PUT targets a quarantine key (`storage.keys`: `quarantine/ai-enhancer/uploads/…`) that
only a generate or job naming it reads; it sanitises the bytes into an original and deletes
the upload, so a later PUT to the same URL changes nothing stored or delivered."""

from __future__ import annotations

from dataclasses import dataclass

from aiimage.identity import Identity
from aiimage.limits import rate_limiter
from aiimage.settings import get_settings
from aiimage.storage.keys import ObjectKey, new_key
from aiimage.storage.objects import PresignedUpload, object_store
from aiimage.storage.uploads import check_upload


@dataclass(frozen=True, slots=True)
class Upload:
    key: ObjectKey
    presigned: PresignedUpload


def create_upload(identity: Identity, *, content_type: str, size: int) -> Upload:
    settings = get_settings()
    content_type = check_upload(content_type, size)
    rate_limiter().hit(
        "uploads",
        identity.owner_key,
        limit=settings.generate_rate_limit_per_minute,
        window_seconds=60,
    )
    key = new_key("uploads", identity, content_type)
    return Upload(
        key=key, presigned=object_store().presign_put(key, content_type=content_type, size=size)
    )
