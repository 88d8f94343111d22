"""Copy between moto's S3 and local folders, the way SageMaker mounts S3 in a container."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key/prefix` → (`bucket`, `key/prefix`)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"expected an s3:// URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def _relative(key: str, prefix: str) -> str:
    relative = key[len(prefix) :].lstrip("/")
    return relative or key.rsplit("/", 1)[-1]


def download_prefix(s3: Any, uri: str, target: Path) -> list[Path]:
    """Download every object under `uri` (an S3Prefix) into `target`, keeping sub-paths.

    `s3://b/data/` puts `data/dt=1/x.csv` at `target/dt=1/x.csv`; a URI naming one object
    puts it at `target/<its file name>`. Folder marker objects (keys ending in '/') are
    skipped, as SageMaker does.
    """
    bucket, prefix = split_uri(uri)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for key in _keys(s3, bucket, prefix):
        if key.endswith("/"):
            continue
        path = target / _relative(key, prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(path))
        written.append(path)
    return written


def download_manifest(s3: Any, uri: str, target: Path) -> list[Path]:
    """Download the objects a SageMaker manifest file lists into `target`, keeping sub-paths.

    The manifest (JSON) is ``[{"prefix": "s3://bucket/prefix/"}, "relative/key", ...]``;
    each object lands at ``target/<relative key>``, as SageMaker's ManifestFile inputs do.
    """
    bucket, key = split_uri(uri)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if not isinstance(manifest, list) or not manifest or not isinstance(manifest[0], dict) \
            or "prefix" not in manifest[0]:
        raise ValueError(f"{uri}: not a SageMaker manifest file; expected "
                         '[{"prefix": "s3://bucket/prefix/"}, "relative/key", ...]')
    source_bucket, prefix = split_uri(manifest[0]["prefix"])
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for relative in manifest[1:]:
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(source_bucket, f"{prefix}{relative}", str(path))
        written.append(path)
    return written


def list_objects(s3: Any, uri: str) -> list[tuple[str, str]]:
    """(key, path relative to the prefix) of every object under `uri`."""
    bucket, prefix = split_uri(uri)
    return [(key, _relative(key, prefix)) for key in _keys(s3, bucket, prefix) if not key.endswith("/")]


def upload_folder(s3: Any, folder: Path, uri: str) -> list[str]:
    """Upload every file under `folder` to `uri/<relative path>`; returns the keys."""
    bucket, prefix = split_uri(uri)
    prefix = prefix.rstrip("/")
    keys: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        key = f"{prefix}/{relative}" if prefix else relative
        s3.upload_file(str(path), bucket, key)
        keys.append(key)
    return keys


def download_object(s3: Any, uri: str, path: Path) -> Path:
    """Download one object to `path`."""
    bucket, key = split_uri(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(bucket, key, str(path))
    return path


def extract_tarball(s3: Any, uri: str, target: Path) -> Path:
    """Download a `.tar.gz` from S3 and extract it into `target`."""
    archive = download_object(s3, uri, target.parent / f"{target.name}.tar.gz")
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


def tar_folder(folder: Path, archive: Path) -> Path:
    """Write the contents of `folder` (not the folder itself) into `archive` (.tar.gz)."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)
    return archive
