"""Read the records a batch transform wrote: ``(id, score)`` per line, CSV or JSON Lines.

The transform joins each output to its input (DataProcessing JoinSource Input) and keeps
the id and the score (OutputFilter ``$[0,-1]`` for CSV; the whole joined object for JSON
Lines, whose score sits under ``SageMakerOutput``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from lambdas.shared import s3uri
from lambdas.shared.aws import client


class MalformedOutputError(ValueError):
    """A line of transform output that is not ``id,score`` / a joined JSON object."""


def output_objects(prefix: str) -> list[dict[str, Any]]:
    """The ``.out`` objects of a transform job under ``prefix``, sorted by key."""
    return sorted((o for o in s3uri.list_objects(prefix) if o["Key"].endswith(".out")), key=lambda o: o["Key"])


def parse_line(line: str, content_type: str, id_column: str) -> tuple[str, float]:
    if content_type == "application/jsonlines":
        try:
            record = json.loads(line)
            output = record["SageMakerOutput"]
            score = output["score"] if isinstance(output, dict) else output
            return str(record[id_column]), float(score)
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedOutputError(f"line {line[:80]!r}: expected a JSON object with {id_column!r} "
                                       f"and SageMakerOutput.score ({exc})") from None
    ident, _, score = line.rpartition(",")
    try:
        return ident.strip('"'), float(score)
    except ValueError:
        raise MalformedOutputError(f"line {line[:80]!r}: expected 'id,score'") from None


def records(prefix: str, content_type: str, id_column: str) -> Iterator[tuple[str, float]]:
    """Every (id, score) of the transform output, streamed line by line."""
    s3 = client("s3")
    for obj in output_objects(prefix):
        bucket, _ = s3uri.split(prefix)
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
        for raw in body.iter_lines():
            line = raw.decode("utf-8").strip()
            if line:
                yield parse_line(line, content_type, id_column)
