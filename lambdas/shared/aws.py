"""boto3 clients behind one cached factory, so tests point every handler at moto."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
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
    _fast_client.cache_clear()


def fast_client(service: str, timeout_ms: int, attempts: int = 1) -> Any:
    """A client for the decision path: connect and read timeouts of ``timeout_ms`` and at most
    ``attempts`` tries, so a slow or hanging service costs at most ``attempts × timeout_ms``."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return _fast_client(service, region, os.environ.get("AWS_ACCESS_KEY_ID"), timeout_ms, attempts)


@cache
def _fast_client(service: str, region: str | None, access_key_id: str | None, timeout_ms: int,
                 attempts: int) -> Any:
    seconds = timeout_ms / 1000
    config = Config(retries={"mode": "standard", "total_max_attempts": attempts}, connect_timeout=seconds,
                    read_timeout=seconds, tcp_keepalive=True)
    return boto3.client(service, region_name=region, config=config)


def _host_clock() -> float:
    return time.time() * 1000


_clock: Callable[[], float] = _host_clock


def clock_ms() -> float:
    """This host's clock in epoch milliseconds (the decision deadline's). Offline, the harness
    installs the clock of its emulated AWS (``use_clock``), in which only emulated waits take time."""
    return _clock()


def use_clock(clock: Callable[[], float] | None) -> None:
    """Read ``clock`` instead of the host's (None: the host's again)."""
    global _clock
    _clock = clock or _host_clock
