"""Parse and build s3:// URIs; read and write small JSON objects; find the newest partition."""

from __future__ import annotations

import json
import re
from typing import Any

from lambdas.shared.aws import client

PARTITION = re.compile(r"dt=(\d{4}-\d{2}-\d{2})/$")


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


def newest_partition(bucket: str, prefix: str) -> str | None:
    """``s3://bucket/<prefix>dt=YYYY-MM-DD/`` of the newest day partition, or None when there is none."""
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    dated = sorted(p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])
                   if PARTITION.search(p["Prefix"]))
    return uri(bucket, dated[-1]) if dated else None
