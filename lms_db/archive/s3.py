"""The object store: the only module of lmsdb that imports boto3.

Any S3-compatible store works: the endpoint URL, region and bucket come from the topology's
``[archive]`` section or the command line, credentials from the standard AWS chain (env,
``~/.aws``, instance role), never from lmsdb's files.  Every botocore error becomes one
:class:`~lms_db.archive.errors.StoreError` line naming the bucket and key, never a secret.

Uploads carry a SHA-256 checksum the store checks on receipt (``ChecksumAlgorithm``), the
chosen storage class and server-side encryption.  :meth:`Store.verify` heads the object
(size, stored checksum, storage class) and, where the class allows reading, reads it back
and hashes the bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from lms_db.archive.errors import (
    ObjectNotReadable,
    StoreError,
    StoreInputError,
    VerificationFailed,
)

log = logging.getLogger(__name__)

STORAGE_CLASSES = ("STANDARD", "STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")
#: Classes whose objects must be restored before they can be read.
COLD_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
SSE_MODES = ("AES256", "aws:kms")


@dataclass(frozen=True)
class StoreSettings:
    """Where archive objects go.

    :param bucket: the bucket.
    :param endpoint_url: an S3-compatible endpoint; ``None``: AWS.
    :param region: the region; ``None``: the AWS configuration's.
    """

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Encryption:
    """Server-side encryption of new objects: ``None``, ``AES256`` or ``aws:kms``."""

    mode: str | None = None
    kms_key_id: str | None = None

    def put_args(self) -> dict[str, str]:
        if self.mode is None:
            return {}
        args = {"ServerSideEncryption": self.mode}
        if self.mode == "aws:kms" and self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args


@dataclass(frozen=True)
class StoredObject:
    """What a HEAD says about an object."""

    key: str
    size: int
    sha256: str | None  # hex, from the stored checksum
    storage_class: str
    encryption: str | None
    kms_key_id: str | None
    restore: str | None  # the x-amz-restore header, if a restore was asked

    @property
    def readable(self) -> bool:
        """Whether a GET would succeed now (cold classes: only once restored)."""
        if self.storage_class not in COLD_CLASSES:
            return True
        return self.restore is not None and 'ongoing-request="false"' in self.restore


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Body(io.RawIOBase):
    """The upload body, calling ``on_half`` once half of it has been read (crash tests)."""

    def __init__(self, data: bytes, on_half: Callable[[], None]) -> None:
        self._data = io.BytesIO(data)
        self._half = len(data) // 2
        self._on_half: Callable[[], None] | None = on_half

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._data.seek(offset, whence)

    def tell(self) -> int:
        return self._data.tell()

    def readinto(self, buffer: Any) -> int:
        if self._on_half is not None and self._data.tell() >= self._half:
            hook, self._on_half = self._on_half, None
            hook()
        limit = len(buffer)
        if self._on_half is not None:
            limit = max(1, min(limit, self._half - self._data.tell()))
        chunk = self._data.read(limit)
        buffer[: len(chunk)] = chunk
        return len(chunk)


class Store:
    """One bucket of an S3-compatible store."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        config = botocore.config.Config(
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            # Checksums only where asked: S3-compatible stores vary in what they accept.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        try:
            session = boto3.session.Session(region_name=settings.region)
            self._client = session.client("s3", endpoint_url=settings.endpoint_url, config=config)
        except (botocore.exceptions.BotoCoreError, ValueError) as exc:
            raise StoreInputError(f"cannot set up the S3 client: {_short(exc)}") from exc

    @property
    def bucket(self) -> str:
        return self.settings.bucket

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    # -- checks -----------------------------------------------------------------------------

    def check_bucket(self) -> None:
        """Refuse (exit 2) a missing bucket, missing credentials or an unreachable endpoint."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            code = _code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise StoreInputError(f"{self.url()}: the bucket does not exist") from exc
            if code in ("403", "AccessDenied", "Forbidden"):
                raise StoreInputError(
                    f"{self.url()}: access denied (check the credentials and the bucket policy)"
                ) from exc
            raise StoreInputError(f"{self.url()}: {_describe(exc)}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreInputError(f"{self.url()}: {_short(exc)}") from exc

    def create_bucket(self) -> None:
        """Create the bucket (the demo's local endpoint; production buckets exist already)."""
        self._call("CreateBucket", "", lambda: self._client.create_bucket(Bucket=self.bucket))

    # -- objects ----------------------------------------------------------------------------

    def put(
        self,
        key: str,
        data: bytes,
        *,
        storage_class: str = "STANDARD",
        encryption: Encryption | None = None,
        during: Callable[[], None] | None = None,
    ) -> str:
        """Store ``data`` at ``key``; the store checks its SHA-256 on receipt.

        :param during: called once half the body is sent (a crash-test pause point).
        :returns: the SHA-256 (hex) of ``data``.
        """
        digest = hashlib.sha256(data).digest()
        body: Any = _Body(data, during) if during is not None else data
        args = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentLength": len(data),
            "StorageClass": storage_class,
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(digest).decode("ascii"),
            **(encryption or Encryption()).put_args(),
        }
        self._call("PutObject", key, lambda: self._client.put_object(**args))
        return digest.hex()

    def head(self, key: str) -> StoredObject | None:
        """The object's metadata, or ``None`` if there is none at ``key``."""
        try:
            reply = self._client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except botocore.exceptions.ClientError as exc:
            if _missing(exc):
                return None
            raise StoreError(f"{self.url(key)}: HeadObject: {_describe(exc)}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"{self.url(key)}: HeadObject: {_short(exc)}") from exc
        checksum = reply.get("ChecksumSHA256")
        sha = base64.b64decode(checksum).hex() if checksum and "-" not in checksum else None
        return StoredObject(
            key=key,
            size=int(reply["ContentLength"]),
            sha256=sha,
            storage_class=reply.get("StorageClass") or "STANDARD",
            encryption=reply.get("ServerSideEncryption"),
            kms_key_id=reply.get("SSEKMSKeyId"),
            restore=reply.get("Restore"),
        )

    def get(self, key: str) -> bytes:
        """The object's bytes.

        :raises ObjectNotReadable: a GLACIER/DEEP_ARCHIVE object not restored (yet).
        """

        def call() -> bytes:
            reply = self._client.get_object(Bucket=self.bucket, Key=key)
            return bytes(reply["Body"].read())

        data: bytes = self._call("GetObject", key, call)
        return data

    def verify(
        self, key: str, *, size: int, sha256: str, storage_class: str | None = None
    ) -> StoredObject:
        """Check the stored object is exactly what was written.

        An object of a readable class is read back in one GET, its size and SHA-256 taken
        from the bytes received.  A cold one (``storage_class`` GLACIER/DEEP_ARCHIVE, or
        a GET refused as not restored) is checked by HEAD: ``size`` and the stored SHA-256,
        which the store checked on receipt.

        :param storage_class: the class it was written with (``None``: not known).
        :raises VerificationFailed: missing, or another size or checksum.
        """
        if storage_class not in COLD_CLASSES:
            read = self._read_back(key)
            if read is not None:
                data, got = read
                if got.size != size or len(data) != size:
                    raise VerificationFailed(
                        f"{self.url(key)}: stored size {len(data)} differs from {size} written"
                    )
                if sha256_hex(data) != sha256:
                    raise VerificationFailed(
                        f"{self.url(key)}: the bytes read back differ from those written"
                    )
                return got
        stored = self.head(key)
        if stored is None:
            raise VerificationFailed(f"{self.url(key)}: the object is missing")
        if stored.size != size:
            raise VerificationFailed(
                f"{self.url(key)}: stored size {stored.size} differs from {size} written"
            )
        if stored.sha256 is not None and stored.sha256 != sha256:
            raise VerificationFailed(
                f"{self.url(key)}: stored SHA-256 differs from the one written"
            )
        if stored.readable:
            data = self.get(key)
            if len(data) != size or sha256_hex(data) != sha256:
                raise VerificationFailed(
                    f"{self.url(key)}: the bytes read back differ from those written"
                )
        elif stored.sha256 is None:
            raise VerificationFailed(
                f"{self.url(key)}: cold object without a stored SHA-256 cannot be verified"
            )
        return stored

    def _read_back(self, key: str) -> tuple[bytes, StoredObject] | None:
        """The object's bytes and what its GET says of it; ``None``: in cold storage.

        :raises VerificationFailed: there is no object at ``key``.
        """

        def call() -> Any:
            reply = self._client.get_object(Bucket=self.bucket, Key=key)
            return reply, bytes(reply["Body"].read())

        try:
            reply, data = self._call("GetObject", key, call)
        except ObjectNotReadable:
            return None
        except StoreError as exc:
            if exc.__cause__ is not None and _missing(exc.__cause__):
                raise VerificationFailed(f"{self.url(key)}: the object is missing") from exc
            raise
        stored = StoredObject(
            key=key,
            size=int(reply["ContentLength"]),
            sha256=sha256_hex(data),
            storage_class=reply.get("StorageClass") or "STANDARD",
            encryption=reply.get("ServerSideEncryption"),
            kms_key_id=reply.get("SSEKMSKeyId"),
            restore=reply.get("Restore"),
        )
        return data, stored

    def request_restore(self, key: str, *, days: int = 7, tier: str = "Standard") -> None:
        """Ask for a temporary readable copy of a GLACIER/DEEP_ARCHIVE object."""
        request = {"Days": days, "GlacierJobParameters": {"Tier": tier}}
        try:
            self._client.restore_object(Bucket=self.bucket, Key=key, RestoreRequest=request)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) == "RestoreAlreadyInProgress":
                return
            raise StoreError(f"{self.url(key)}: RestoreObject: {_describe(exc)}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"{self.url(key)}: RestoreObject: {_short(exc)}") from exc

    def delete(self, key: str) -> None:
        """Delete ``key`` (no error if it is already gone)."""
        self._call(
            "DeleteObject", key, lambda: self._client.delete_object(Bucket=self.bucket, Key=key)
        )

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``, in key order."""
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    yield str(item["Key"])
        except botocore.exceptions.ClientError as exc:
            raise StoreError(f"{self.url(prefix)}: ListObjectsV2: {_describe(exc)}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"{self.url(prefix)}: ListObjectsV2: {_short(exc)}") from exc

    def _call(self, action: str, key: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except botocore.exceptions.ClientError as exc:
            if _code(exc) == "InvalidObjectState":
                raise ObjectNotReadable(
                    f"{self.url(key)}: in cold storage; it must be restored before it can be read"
                ) from exc
            raise StoreError(f"{self.url(key)}: {action}: {_describe(exc)}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"{self.url(key)}: {action}: {_short(exc)}") from exc


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _missing(exc: BaseException) -> bool:
    """A reply saying there is no such object."""
    return isinstance(exc, botocore.exceptions.ClientError) and _code(exc) in (
        "404",
        "NoSuchKey",
        "NotFound",
    )


_EXPLAINED = {
    "AccessDenied": "access denied (check the credentials and the bucket policy)",
    "403": "access denied (check the credentials and the bucket policy)",
    "Forbidden": "access denied (check the credentials and the bucket policy)",
    "NoSuchBucket": "the bucket does not exist",
    "InvalidAccessKeyId": "the AWS access key id is not known to the store",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key id",
    "BadDigest": "the store received bytes whose checksum differs from the one sent",
    "InvalidRequest": "the store refused the request as invalid",
    "KMS.NotFoundException": "the KMS key does not exist",
}


def _describe(exc: botocore.exceptions.ClientError) -> str:
    code = _code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    text = _EXPLAINED.get(code) or str(exc.response.get("Error", {}).get("Message") or code)
    return f"{text} ({code or status})"


def _short(exc: Exception) -> str:
    """botocore's own message: names the endpoint or the missing setting, never a secret."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return (
            "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE or an instance role)"
        )
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return "no AWS region set (AWS_DEFAULT_REGION, or region in [archive])"
    if isinstance(
        exc,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectionClosedError
        | botocore.exceptions.ConnectTimeoutError,
    ):
        return f"cannot reach the S3 endpoint ({type(exc).__name__})"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
