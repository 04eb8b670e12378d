"""Where encrypted intermediates live between steps: a local folder or an S3 bucket.

Only ciphertext is ever written here (the callers encrypt); object names are opaque request ids
and asset names. Both stores offer the same calls so that the environment switch, not the code,
decides where data rests. Everything one step hands to another travels through here, never through
a worker's own disk: the steps of one request may run on different hosts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError


class WorkStore(Protocol):
    def put(self, key: str, data: bytes) -> str:
        """Store `data` under `key`; returns the URI recorded in Dagster as the reference."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def put_file(self, key: str, path: Path) -> str:
        """Store the file at `path` under `key` without holding it in memory; returns its URI."""
        ...

    def get_file(self, key: str, path: Path) -> None:
        """Write the object `key` to the (new) file `path` without holding it in memory."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every object key in the folder `prefix/`, sorted."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`; returns how many (purge)."""
        ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts) or "\\" in key or "\x00" in key:
        raise ValueError("work store keys are '/'-separated names without empty, '.' or '..' parts")
    return key


class LocalWorkStore:
    """A folder on the local disk (embedded default); writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key).split("/"))

    def put(self, key: str, data: bytes) -> str:
        return self._write(key, lambda handle: handle.write(data))

    def put_file(self, key: str, path: Path) -> str:
        with path.open("rb") as source:
            return self._write(key, lambda handle: shutil.copyfileobj(source, handle, 1 << 20))

    def _write(self, key: str, fill: Any) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path.as_uri()

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def get_file(self, key: str, path: Path) -> None:
        shutil.copyfile(self._path(key), path)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*")
                      if p.is_file() and not p.name.startswith(".tmp-"))

    def delete_prefix(self, prefix: str) -> int:
        base = self._path(prefix)
        if base.is_file():
            base.unlink()
            return 1
        count = 0
        if base.is_dir():
            for path in sorted(base.rglob("*"), reverse=True):
                if path.is_file():
                    path.unlink()
                    count += 1
                else:
                    path.rmdir()
            base.rmdir()
        return count


class S3WorkStore:
    """An S3 bucket (production): server-side encryption on top of our own envelope encryption."""

    def __init__(self, client: Any, bucket: str, kms_key_id: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.kms_key_id = kms_key_id

    def put(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=_check_key(key), Body=data, **self._encryption())
        return f"s3://{self.bucket}/{key}"

    def put_file(self, key: str, path: Path) -> str:
        self.client.upload_file(str(path), self.bucket, _check_key(key), ExtraArgs=self._encryption())
        return f"s3://{self.bucket}/{key}"

    def _encryption(self) -> dict[str, str]:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id} if self.kms_key_id else {}

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=_check_key(key))["Body"].read())

    def get_file(self, key: str, path: Path) -> None:
        self.client.download_file(self.bucket, _check_key(key), str(path))

    def keys(self, prefix: str) -> list[str]:
        folder = f"{_check_key(prefix)}/"
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
            found += [item["Key"] for item in page.get("Contents", [])]
        return sorted(found)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=_check_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete_prefix(self, prefix: str) -> int:
        """Delete every version of the object `prefix` or of every object in the folder `prefix/`
        (returns how many objects were current), as the local store deletes a file or a folder.

        The work bucket is versioned (Object Lock keeps the audit anchors there), where a plain
        delete only hides an object behind a delete marker: purge removes the versions themselves."""
        key = _check_key(prefix)
        count = 0
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
            mine = lambda item: item["Key"] == key or item["Key"].startswith(f"{key}/")  # noqa: E731
            versions = [v for v in page.get("Versions", []) if mine(v)]
            count += sum(1 for v in versions if v.get("IsLatest"))
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                      for v in [*versions, *filter(mine, page.get("DeleteMarkers", []))]]
            if doomed:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": doomed, "Quiet": True})
        return count
