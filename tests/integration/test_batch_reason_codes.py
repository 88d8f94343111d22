"""Batch scoring with ``batch.reason_codes: 2``: the published results carry each row's
reason codes next to its score (the real inference script behind the transform job)."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from mdlc import features as F
from mdlc.contract import runtime_spec
from tests.integration.stage_support import put_batch_input, scoring_frame, trained_team

pytestmark = pytest.mark.slow


def test_published_batch_results_carry_n_reason_codes_per_row(tmp_path):
    with trained_team(tmp_path, **{"batch.reason_codes": 2}) as team:
        frame = scoring_frame(seed=12)
        result = team.run("batch", {"input_prefix": put_batch_input(team, frame, "2026-03-02")})

        assert result.succeeded, result.cause
        s3 = team.client("s3")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=team.bucket("rep"))["Contents"]]
        manifest = json.loads(s3.get_object(Bucket=team.bucket("rep"),
                                            Key=next(k for k in keys if k.endswith("_manifest.json")))["Body"].read())
        parts = [pd.read_csv(io.BytesIO(s3.get_object(Bucket=team.bucket("rep"), Key=p["key"])["Body"].read()),
                             dtype={"transaction_id": str}) for p in manifest["parts"]]
        scores = pd.concat(parts)
        columns = F.model_columns(runtime_spec(team.team))

    assert list(scores.columns) == ["transaction_id", "score", "reason_1_feature", "reason_1_value",
                                    "reason_1_contribution", "reason_2_feature", "reason_2_value",
                                    "reason_2_contribution"]
    assert len(scores) == len(frame) and scores["score"].between(0, 1).all()
    assert scores["reason_1_feature"].isin(columns).all() and scores["reason_2_feature"].isin(columns).all()
    assert (scores["reason_1_contribution"].abs() >= scores["reason_2_contribution"].abs()).all()
