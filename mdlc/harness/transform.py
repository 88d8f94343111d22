"""Batch transform of one S3 object, following SageMaker's record handling.

Supported: SplitType None/Line; BatchStrategy SingleRecord/MultiRecord (MultiRecord
batches are bounded by MaxPayloadInMB); DataProcessing InputFilter/OutputFilter with the
JSONPath subset SageMaker's examples use (`$`, `$[i]`, `$[a:b]`, `$[i,j,...]`, `$.key`);
JoinSource Input (CSV: input columns then output columns; JSON object: output under
`SageMakerOutput`); AssembleWith None/Line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

_LIST_FILTER = re.compile(r"^\$\[(?P<body>[-0-9:, ]*)\]$")
_KEY_FILTER = re.compile(r"^\$\.(?P<key>[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class TransformSettings:
    """The CreateTransformJob fields that change how records are handled."""

    content_type: str
    accept: str | None
    split_type: str
    batch_strategy: str
    max_payload_bytes: int
    assemble_with: str
    join_source: str
    input_filter: str
    output_filter: str

    @classmethod
    def from_request(cls, params: dict) -> TransformSettings:
        """Read the settings from a CreateTransformJob request."""
        transform_input = params["TransformInput"]
        output = params["TransformOutput"]
        processing = params.get("DataProcessing") or {}
        return cls(
            content_type=transform_input.get("ContentType") or "application/octet-stream",
            accept=output.get("Accept"),
            split_type=transform_input.get("SplitType") or "None",
            batch_strategy=params.get("BatchStrategy") or "SingleRecord",
            max_payload_bytes=int(params.get("MaxPayloadInMB") or 6) * 1024 * 1024,
            assemble_with=output.get("AssembleWith") or "None",
            join_source=processing.get("JoinSource") or "None",
            input_filter=processing.get("InputFilter") or "$",
            output_filter=processing.get("OutputFilter") or "$",
        )


def _split_csv(record: str) -> list[str]:
    return next(csv.reader([record]))


def _join_csv(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()


def _select(values: list, body: str) -> list:
    if ":" in body:
        start, _, stop = body.partition(":")
        return values[int(start) if start.strip() else None : int(stop) if stop.strip() else None]
    return [values[int(index)] for index in body.split(",") if index.strip()]


def apply_filter(expression: str, record: str) -> str:
    """Apply a SageMaker Input/OutputFilter to one record (CSV line or JSON text)."""
    expression = expression.strip()
    if expression == "$":
        return record
    parsed = _parse_json(record)
    list_match = _LIST_FILTER.match(expression)
    if list_match:
        if isinstance(parsed, list):
            return json.dumps(_select(parsed, list_match["body"]))
        return _join_csv(_select(_split_csv(record), list_match["body"]))
    key_match = _KEY_FILTER.match(expression)
    if key_match and isinstance(parsed, dict):
        return json.dumps(parsed[key_match["key"]])
    raise ValueError(f"filter {expression!r} is outside the JSONPath subset the harness supports")


def _parse_json(text: str) -> Any:
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def join_input(record: str, output: str) -> str:
    """JoinSource Input: the input record with the model's output appended."""
    parsed = _parse_json(record)
    if isinstance(parsed, dict):
        parsed["SageMakerOutput"] = _json_value(output)
        return json.dumps(parsed)
    if isinstance(parsed, list):
        return json.dumps([*parsed, _json_value(output)])
    return f"{record},{output}"


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _records(body: bytes, settings: TransformSettings) -> list[str]:
    text = body.decode()
    if settings.split_type == "None":
        return [text]
    if settings.split_type != "Line":
        raise ValueError(f"SplitType {settings.split_type!r} is not emulated (use None or Line)")
    return [line for line in text.splitlines() if line.strip()]


def _batches(records: list[str], settings: TransformSettings) -> list[list[str]]:
    if settings.batch_strategy == "SingleRecord" or settings.split_type == "None":
        return [[record] for record in records]
    batches: list[list[str]] = [[]]
    size = 0
    for record in records:
        if batches[-1] and size + len(record) + 1 > settings.max_payload_bytes:
            batches.append([])
            size = 0
        batches[-1].append(record)
        size += len(record) + 1
    return [batch for batch in batches if batch]


def _invoke_batch(model: Any, batch: list[str], settings: TransformSettings) -> list[str]:
    payload = "\n".join(apply_filter(settings.input_filter, record) for record in batch)
    body, _ = model.invoke(payload.encode(), settings.content_type, settings.accept)
    text = body.decode().rstrip("\n")
    if len(batch) == 1:
        return [text]
    outputs = text.splitlines()
    if len(outputs) != len(batch):
        raise ValueError(f"model returned {len(outputs)} lines for a batch of {len(batch)} records")
    return outputs


def transform_object(model: Any, body: bytes, settings: TransformSettings) -> bytes:
    """Run one input object through `model` (a LoadedModel) → the `.out` object's bytes."""
    records = _records(body, settings)
    results: list[str] = []
    for batch in _batches(records, settings):
        outputs = _invoke_batch(model, batch, settings)
        for record, output in zip(batch, outputs, strict=True):
            joined = join_input(record, output) if settings.join_source == "Input" else output
            results.append(apply_filter(settings.output_filter, joined))
    if settings.assemble_with == "Line":
        return "".join(f"{result}\n" for result in results).encode()
    return "".join(results).encode()
