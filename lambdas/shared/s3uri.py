"""Parse and build s3:// URIs; read and write small JSON objects."""

from __future__ import annotations

import json
from typing import Any

from lambdas.shared.aws import client


def split(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key); a clear error for anything else."""
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def read_json(location: str) -> Any:
    bucket, key = split(location)
    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)


def write_json(location: str, value: Any) -> None:
    bucket, key = split(location)
    client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(value, indent=2, sort_keys=True, default=str).encode(),
        ContentType="application/json",
    )


def list_objects(location: str) -> list[dict[str, Any]]:
    """Every object under a prefix (paginated), as S3 returns them."""
    bucket, prefix = split(location)
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj for page in pages for obj in page.get("Contents", [])]
