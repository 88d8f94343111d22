"""boto3 clients behind one cached factory, so tests point every handler at moto."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


def client(service: str) -> Any:
    """A boto3 client of ``service`` in the function's region, with standard retries."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    # Keyed by the credentials too: one process may serve several functions' roles
    # (the offline harness runs every handler in-process, each with its role's keys).
    return _client(service, region, os.environ.get("AWS_ACCESS_KEY_ID"))


@cache
def _client(service: str, region: str | None, access_key_id: str | None) -> Any:
    return boto3.client(service, region_name=region, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests switch moto contexts between cases)."""
    _client.cache_clear()
