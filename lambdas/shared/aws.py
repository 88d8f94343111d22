"""boto3 clients behind one cached factory, so tests point every handler at moto."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@cache
def client(service: str) -> Any:
    """A boto3 client of ``service`` in the function's region, with standard retries."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return boto3.client(service, region_name=region, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests switch moto contexts between cases)."""
    client.cache_clear()
