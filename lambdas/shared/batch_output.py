"""Read the records a batch transform wrote: ``(id, score)`` per line, CSV or JSON Lines.

The transform joins each output to its input (DataProcessing JoinSource Input) and keeps
the id and the score (OutputFilter ``$[0,-1]`` for CSV; the whole joined object for JSON
Lines, whose score sits under ``SageMakerOutput``). With ``batch.reason_codes: N`` the
model also writes N reason codes (CSV: ``feature,value,contribution`` after the score, kept
by :func:`output_filter`; JSON Lines: ``SageMakerOutput.reasons``); a row with another
number of them is malformed (a model trained with a different ``batch.reason_codes``).
"""

from __future__ import annotations

import csv
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


Reason = tuple[str, Any, float]  # feature, value, signed contribution


def output_filter(reason_codes: int) -> str:
    """CSV OutputFilter: the id (first input column), the score and its reason codes (last columns)."""
    tail = 1 + 3 * reason_codes
    return "$[0," + ",".join(str(-i) for i in range(tail, 0, -1)) + "]"


def parse_line(line: str, content_type: str, id_column: str) -> tuple[str, float]:
    ident, score, _ = parse_row(line, content_type, id_column)
    return ident, score


def parse_row(line: str, content_type: str, id_column: str, reason_codes: int = 0) -> tuple[str, float, list[Reason]]:
    """``(id, score, reasons)`` of one output line; raises MalformedOutputError naming what was expected."""
    if content_type == "application/jsonlines":
        try:
            record = json.loads(line)
            output = record["SageMakerOutput"]
            score = output["score"] if isinstance(output, dict) else output
            reasons = [(r["feature"], r["value"], float(r["contribution"]))
                       for r in (output.get("reasons") or [] if isinstance(output, dict) else [])]
            ident, score = str(record[id_column]), float(score)
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedOutputError(f"line {line[:80]!r}: expected a JSON object with {id_column!r} "
                                       f"and SageMakerOutput.score ({exc})") from None
        _check_count(len(reasons), reason_codes, line)
        return ident, score, reasons
    if not reason_codes:
        ident, _, text = line.rpartition(",")
        try:
            return ident.strip('"'), float(text), []
        except ValueError:
            raise MalformedOutputError(f"line {line[:80]!r}: expected 'id,score'") from None
    cells = next(csv.reader([line]))
    if len(cells) != 2 + 3 * reason_codes:
        raise MalformedOutputError(
            f"line {line[:80]!r}: expected id, score and {reason_codes} reason codes "
            f"({2 + 3 * reason_codes} values), got {len(cells)}; was the model trained with another "
            "batch.reason_codes? Retrain it, or set batch.reason_codes to what it was trained with")
    try:
        reasons = [(cells[i], cells[i + 1], float(cells[i + 2])) for i in range(2, len(cells), 3)]
        return cells[0], float(cells[1]), reasons
    except ValueError:
        raise MalformedOutputError(f"line {line[:80]!r}: expected 'id,score' then "
                                   "'feature,value,contribution' per reason") from None


def _check_count(got: int, expected: int, line: str) -> None:
    if got != expected:
        raise MalformedOutputError(f"line {line[:80]!r}: {got} reason codes, expected batch.reason_codes = "
                                   f"{expected}; was the model trained with another batch.reason_codes?")


def rows(prefix: str, content_type: str, id_column: str, reason_codes: int = 0) -> Iterator[tuple[str, float, list]]:
    """Every (id, score, reasons) of the transform output, streamed line by line."""
    s3 = client("s3")
    for obj in output_objects(prefix):
        bucket, _ = s3uri.split(prefix)
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
        for raw in body.iter_lines():
            line = raw.decode("utf-8").strip()
            if line:
                yield parse_row(line, content_type, id_column, reason_codes)


def records(prefix: str, content_type: str, id_column: str, reason_codes: int = 0) -> Iterator[tuple[str, float]]:
    """Every (id, score) of the transform output, streamed line by line."""
    for ident, score, _ in rows(prefix, content_type, id_column, reason_codes):
        yield ident, score
