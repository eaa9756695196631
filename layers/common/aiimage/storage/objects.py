"""Objects in the images bucket: put, get (conditional), delete, presigned URLs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from aiimage import aws
from aiimage.errors import AppError, NotFoundError
from aiimage.settings import get_settings
from aiimage.storage.keys import ObjectKey


@dataclass(frozen=True, slots=True)
class StoredObject:
    etag: str
    content_type: str
    size: int
    # None when the caller's ETag still matches (304) or the object is too large to inline.
    body: bytes | None


@dataclass(frozen=True, slots=True)
class ListedObject:
    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    url: str
    # Headers the client must send exactly: they are part of the signature.
    headers: dict[str, str]
    expires_at: datetime


# What the store raises for a failure other than a missing key (`NotFoundError`): throttling,
# a 5xx, an unreachable endpoint, after the SDK's own retries.
STORAGE_FAILURES: tuple[type[Exception], ...] = (ClientError, BotoCoreError)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _missing(exc: ClientError) -> bool:
    return _error_code(exc) in ("NoSuchKey", "404", "NotFound")


def _content_type(key: ObjectKey | str) -> str:
    return key.content_type if isinstance(key, ObjectKey) else "application/octet-stream"


class ObjectStore:
    """Objects by `ObjectKey` (the Enhancer's owner-bearing keys) or by a plain key string
    (event photos and edit results, whose keys the Magic Edits layout builds)."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def put(self, key: ObjectKey | str, data: bytes, content_type: str) -> str:
        response = aws.s3().put_object(
            Bucket=self.bucket,
            Key=str(key),
            Body=data,
            ContentType=content_type,
            CacheControl="private, max-age=31536000, immutable",
        )
        return response["ETag"]

    def head(self, key: ObjectKey | str) -> StoredObject:
        try:
            response = aws.s3().head_object(Bucket=self.bucket, Key=str(key))
        except ClientError as exc:
            if _missing(exc):
                raise NotFoundError() from None
            raise
        return StoredObject(
            etag=response["ETag"],
            content_type=response.get("ContentType", _content_type(key)),
            size=response["ContentLength"],
            body=None,
        )

    def get(self, key: ObjectKey | str, *, if_none_match: str | None = None) -> StoredObject:
        """The object; `body` is None when `if_none_match` still matches (answer 304)."""
        try:
            if if_none_match:
                response = aws.s3().get_object(
                    Bucket=self.bucket, Key=str(key), IfNoneMatch=if_none_match
                )
            else:
                response = aws.s3().get_object(Bucket=self.bucket, Key=str(key))
        except ClientError as exc:
            if _missing(exc):
                raise NotFoundError() from None
            if _error_code(exc) in ("304", "NotModified"):
                return self.head(key)
            raise
        return StoredObject(
            etag=response["ETag"],
            content_type=response.get("ContentType", _content_type(key)),
            size=response["ContentLength"],
            body=response["Body"].read(),
        )

    def read(self, key: ObjectKey | str) -> bytes:
        body = self.get(key).body
        if body is None:  # only a matching If-None-Match leaves it out, and none was sent
            raise AppError(code="storage_no_body")
        return body

    def listed(self, prefix: str) -> Iterator[ListedObject]:
        """Every object under `prefix`, page by page (ListObjectsV2, 1,000 a page)."""
        pages = (
            aws.s3().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield ListedObject(item["Key"], item["Size"], item["LastModified"])

    def delete(self, key: ObjectKey | str) -> None:
        aws.s3().delete_object(Bucket=self.bucket, Key=str(key))

    def presign_get(self, key: ObjectKey | str, *, content_disposition: str | None = None) -> str:
        """A GET URL; `content_disposition` is signed into it, so the file saves by name."""
        params: dict[str, str] = {"Bucket": self.bucket, "Key": str(key)}
        if content_disposition is not None:
            params["ResponseContentDisposition"] = content_disposition
        return aws.s3().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=get_settings().presigned_url_ttl_seconds
        )

    def presign_put(self, key: ObjectKey | str, *, content_type: str, size: int) -> PresignedUpload:
        """A PUT URL whose signature covers the content type and the exact length, so the
        client can upload only what it declared (R2 supports presigned PUT, not POST)."""
        ttl = get_settings().presigned_url_ttl_seconds
        url = aws.s3().generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": str(key),
                "ContentType": content_type,
                "ContentLength": size,
            },
            ExpiresIn=ttl,
        )
        return PresignedUpload(
            url=url,
            headers={"Content-Type": content_type, "Content-Length": str(size)},
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
        )


def object_store() -> ObjectStore:
    return ObjectStore(get_settings().images_bucket)
