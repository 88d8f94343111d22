"""SageMaker data capture offline: what an endpoint with DataCaptureConfig writes to S3.

For each sampled invocation the harness writes one JSON Lines file in SageMaker's capture
format under ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/`` (UTC), named
``<mm>-<ss>-<mmm>-<uuid>.jsonl`` like SageMaker's files. Each line::

    {"captureData": {"endpointInput": {"observedContentType", "mode": "INPUT", "data", "encoding"},
                     "endpointOutput": {"observedContentType", "mode": "OUTPUT", "data", "encoding"}},
     "eventMetadata": {"eventId", "inferenceTime", ["inferenceId"]}, "eventVersion": "0"}

``encoding`` is JSON for the config's ``JsonContentTypes``, CSV for ``CsvContentTypes``
and BASE64 (data base64-encoded) otherwise. Sampling is deterministic: with
``InitialSamplingPercentage`` p, exactly ⌊n·p/100⌋ of the first n invocations of an
endpoint are captured (SageMaker samples at random; the share is the same).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class CapturedEvent:
    """One capture record as written: its S3 location and the record."""

    uri: str
    record: dict[str, Any]


def _encoding(content_type: str, header: dict[str, Any]) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in [t.lower() for t in header.get("JsonContentTypes") or []]:
        return "JSON"
    if kind in [t.lower() for t in header.get("CsvContentTypes") or []]:
        return "CSV"
    return "BASE64"


def _payload(data: bytes, content_type: str, mode: str, header: dict[str, Any]) -> dict[str, str]:
    encoding = _encoding(content_type, header)
    text = base64.b64encode(data).decode() if encoding == "BASE64" else data.decode("utf-8", errors="replace")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def capture_record(config: dict[str, Any], request: bytes, request_type: str, response: bytes,
                   response_type: str, when: datetime, inference_id: str | None = None) -> dict[str, Any]:
    """The capture line of one invocation for a DataCaptureConfig (modes from CaptureOptions)."""
    modes = {option.get("CaptureMode", "").upper() for option in config.get("CaptureOptions") or []}
    modes = modes or {"INPUT", "OUTPUT"}
    header = config.get("CaptureContentTypeHeader") or {}
    data: dict[str, Any] = {}
    if "INPUT" in modes:
        data["endpointInput"] = _payload(request, request_type, "INPUT", header)
    if "OUTPUT" in modes:
        data["endpointOutput"] = _payload(response, response_type, "OUTPUT", header)
    metadata = {"eventId": str(uuid.uuid4()),
                "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"}
    if inference_id:
        metadata["inferenceId"] = inference_id
    return {"captureData": data, "eventMetadata": metadata, "eventVersion": "0"}


def capture_key(prefix: str, endpoint: str, variant: str, when: datetime) -> str:
    """``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm>-<ss>-<mmm>-<uuid>.jsonl``."""
    head = "/".join(p for p in (prefix.strip("/"), endpoint, variant) if p)
    name = f"{when:%M-%S}-{when.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
    return f"{head}/{when:%Y/%m/%d/%H}/{name}"


class DataCapture:
    """Writes capture files for endpoints whose config enables capture."""

    def __init__(self, s3_factory: Callable[[], Any], clock: Callable[[], datetime] | None = None) -> None:
        self._s3_factory = s3_factory
        self._clock = clock or (lambda: datetime.now(UTC))
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.events: list[CapturedEvent] = []

    def _sampled(self, endpoint: str, percent: float) -> bool:
        with self._lock:
            n = self._counts.get(endpoint, 0) + 1
            self._counts[endpoint] = n
        return int(n * percent // 100) > int((n - 1) * percent // 100)

    def record(self, endpoint: str, variant: str, config: dict[str, Any] | None, request: bytes,
               request_type: str, response: bytes, response_type: str,
               inference_id: str | None = None) -> CapturedEvent | None:
        """Write the capture of one invocation if capture is on and it is sampled."""
        if not config or not config.get("EnableCapture", True) or not config.get("DestinationS3Uri"):
            return None
        if not self._sampled(endpoint, float(config.get("InitialSamplingPercentage", 100))):
            return None
        when = self._clock()
        bucket, _, prefix = config["DestinationS3Uri"].removeprefix("s3://").partition("/")
        key = capture_key(prefix, endpoint, variant, when)
        record = capture_record(config, request, request_type, response, response_type, when, inference_id)
        self._s3_factory().put_object(Bucket=bucket, Key=key, Body=(json.dumps(record) + "\n").encode())
        event = CapturedEvent(f"s3://{bucket}/{key}", record)
        self.events.append(event)
        return event
