"""validate_batch_output: one output row per input row, unique ids, scores in [0, 1]."""

from __future__ import annotations

from lambdas.shared.aws import client
from tests.unit.lambdas.support import put_json


def put_output(event: dict, text: str) -> None:
    bucket_name, prefix = event["staging_uri"][5:].split("/", 1)
    client("s3").put_object(Bucket=bucket_name, Key=f"{prefix}/records.csv.out", Body=text.encode())


def test_a_complete_output_passes_with_its_mean_score(handler, event, context):
    put_json(event["summary_uri"], {"rows": 3})
    put_output(event, "T-1,0.1\nT-2,0.2\n\"T-3\",0.6\n")

    result = handler.handler(event, context)

    assert result["passed"] and result["rows"] == result["expected_rows"] == 3
    assert abs(result["mean_score"] - 0.3) < 1e-9 and result["violations"] == []


def test_every_problem_is_named(handler, event, context):
    put_json(event["summary_uri"], {"rows": 4})
    put_output(event, "T-1,0.1\nT-1,1.5\nT-3,nan\n")

    result = handler.handler(event, context)

    assert not result["passed"]
    assert result["violations"] == ["output has 3 rows; expected 4 (one per input row)",
                                    "1 duplicate transaction_id values in the output",
                                    "1 scores are NaN or infinite", "1 scores lie outside [0, 1]"]


def test_no_output_at_all_fails_the_run(handler, event, context):
    put_json(event["summary_uri"], {"rows": 3})
    result = handler.handler(event, context)
    assert not result["passed"] and "the transform wrote nothing" in result["reasons_text"]
