"""Where photo bytes live: a local folder (the default) or an S3-compatible object store.

Keys are content-addressed ("originals/<sha256>", "display/<sha256>.jpg", …): the bytes
under a key never change, so writing a key that is already there is a no-op, and two
writers racing on one key write the same bytes. Neither backend needs a lock for that.

`current_store()` is the store of the running app, made once from its config:
PHOTO_STORE (a folder) unless S3_BUCKET is set (then S3_ENDPOINT_URL, and boto3's own
credential chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or an instance role)."""
from __future__ import annotations

import abc
import errno
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from flask import current_app

# Lower-case path segments of letters, digits, dot, dash and underscore; no "..", no
# leading slash: a key can never name a file outside the store.
_KEY = re.compile(r"[a-z0-9_-][a-z0-9._-]*(/[a-z0-9_-][a-z0-9._-]*)*")
_CHUNK = 1 << 20


class ObjectMissing(KeyError):
    """No object under this key."""


class Store(abc.ABC):
    """The whole interface the app uses. `put` is idempotent per key (see module doc)."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> bool:
        """Store `data` under `key`; True if this call wrote it, False if it was already there."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under `key`; ObjectMissing if there are none."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable file-like object for `key` (caller closes it); ObjectMissing if none."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key` if present. Tests and maintenance only: evidence is never deleted by the app."""

    @staticmethod
    def check_key(key: str) -> str:
        if not isinstance(key, str) or len(key) > 512 or not _KEY.fullmatch(key) or ".." in key.split("/"):
            raise ValueError(f"not a store key: {key!r}")
        return key


class LocalStore(Store):
    """A folder. Each object is written to a temporary file in its final folder, fsynced,
    then linked into place (atomic, and refuses to replace): a reader never sees half an
    object, a crash leaves only a stray temporary file, and of two racing writers exactly
    one reports the write."""

    def __init__(self, folder: str | os.PathLike):
        self.root = Path(folder).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / self.check_key(key)

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> bool:
        final = self.path(key)
        if final.exists():
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    out.write(data)
                else:
                    while chunk := data.read(_CHUNK):
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, final)  # fails if another writer got there first
                written = True
            except FileExistsError:
                written = False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                # A filesystem without hard links: replace instead (the bytes are the same).
                written = not final.exists()
                os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if written:
            _fsync_dir(final.parent)
        return written

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self.path(key), "rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    """The new directory entry survives a power cut only once the folder is synced."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class S3Store(Store):
    """A bucket on an S3-compatible endpoint, through boto3 (the [s3] extra). A put asks
    the store to refuse an existing key (If-None-Match: *); an endpoint that ignores the
    condition overwrites the key with the same bytes, which is harmless."""

    def __init__(self, bucket: str, endpoint_url: str | None = None, **client_kwargs):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.endpoint_url = endpoint_url
        config = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                        max_pool_connections=32)
        # A session of our own: boto3's default session is not safe to share between threads.
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config,
                                                      **client_kwargs)

    def __repr__(self) -> str:
        return f"S3Store({self.bucket!r}, endpoint_url={self.endpoint_url!r})"

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (development and tests; production buckets
        are made with their policies by whoever runs the store)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _status(exc) != 404:
                raise
        region = self.client.meta.region_name
        kwargs = {}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(Bucket=self.bucket, **kwargs)
        except self.client.exceptions.BucketAlreadyOwnedByYou:
            pass

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> bool:
        from botocore.exceptions import ClientError

        self.check_key(key)
        if self.exists(key):
            return False
        body = bytes(data) if isinstance(data, (bytearray, memoryview)) else data
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type,
                                   IfNoneMatch="*")
        except ClientError as exc:
            if _status(exc) in (409, 412):  # another writer stored it between our HEAD and PUT
                return False
            raise
        return True

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.check_key(key))
        except ClientError as exc:
            if _status(exc) == 404:
                return False
            raise
        return True

    def _get_object(self, key: str) -> dict:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.check_key(key))
        except ClientError as exc:
            if _status(exc) == 404:
                raise ObjectMissing(key) from None
            raise

    def get(self, key: str) -> bytes:
        body = self._get_object(key)["Body"]
        try:
            return body.read()
        finally:
            body.close()

    def open(self, key: str) -> BinaryIO:
        return self._get_object(key)["Body"]  # botocore's StreamingBody: read(n), close()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.check_key(key))


def _status(exc) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def store_from_config(config) -> Store:
    """S3 when S3_BUCKET is set, else the folder PHOTO_STORE."""
    bucket = config.get("S3_BUCKET")
    if bucket:
        kwargs = {}
        if config.get("S3_REGION"):
            kwargs["region_name"] = config["S3_REGION"]
        store = S3Store(bucket, endpoint_url=config.get("S3_ENDPOINT_URL") or None, **kwargs)
        if config.get("S3_CREATE_BUCKET"):
            store.ensure_bucket()
        return store
    folder = config.get("PHOTO_STORE")
    if not folder:
        raise RuntimeError("PHOTO_STORE (a folder) or S3_BUCKET must be configured")
    return LocalStore(folder)


def current_store() -> Store:
    """The running app's store, made on first use and kept in app.extensions."""
    ext = current_app.extensions
    store = ext.get("doorstep_store")
    if store is None:
        store = ext.setdefault("doorstep_store", store_from_config(current_app.config))
    return store

