"""Reason codes of the inference module (product): XGBoost's own per-feature contributions.

A small model is trained here with the team's schema on synthetic data; the serving
handlers (``input_fn``/``predict_fn``/``output_fn``) then score requests as the endpoint
and the batch transform do.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from mdlc import features as F
from mdlc import synthetic
from mdlc.contract import MODELS_DIR, load_team, runtime_spec
from sagemaker_jobs.inference import inference


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))


@pytest.fixture(scope="module")
def booster(spec) -> xgb.Booster:
    frame = F.point_in_time_features(synthetic.generate(n_customers=120, days=30, seed=5), spec)
    x = F.encode_frame(frame, spec).to_numpy("float32")
    data = xgb.DMatrix(x, label=frame["is_fraud"].to_numpy(), feature_names=F.model_columns(spec))
    return xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "seed": 1}, data, 30)


def model_dir(tmp_path: Path, booster: xgb.Booster, spec: dict[str, Any]) -> Path:
    booster.save_model(str(tmp_path / "xgboost-model.json"))
    (tmp_path / "xgboost-model.json").rename(tmp_path / "xgboost-model")
    (tmp_path / "model-meta.json").write_text(json.dumps({"model_version": "v-test",
                                                          "features": F.model_columns(spec)}))
    (tmp_path / "team.json").write_text(json.dumps(spec))
    return tmp_path


def record(spec: dict[str, Any], **request: Any) -> dict[str, Any]:
    base = {"amount": 4000.0, "merchant_category": "electronics", "channel": "online", "country": "NG",
            "event_time": "2026-03-01T03:10:00Z"}
    online = {"txn_count_30d": 4, "amount_sum_30d": 160.0, "amount_mean_90d": 40.0,
              "account_tenure_days": 50.0, "home_country": "GB"}
    return F.derive_record({**base, **request}, online, spec)


def score(model: inference.Model, body: Any, content_type: str = "application/json",
          accept: str = "application/json") -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return inference.output_fn(inference.predict_fn(inference.input_fn(text, content_type), model), accept)[0]


def test_a_decision_request_gets_the_top_n_features_with_value_and_signed_contribution(tmp_path, booster, spec):
    model = inference.model_fn(str(model_dir(tmp_path, booster, spec)))
    row = record(spec)

    prediction = json.loads(score(model, row))["predictions"][0]

    reasons = prediction["reasons"]
    assert len(reasons) == spec["realtime"]["reason_codes"] == 3
    assert all(set(r) == {"feature", "value", "contribution"} for r in reasons)
    assert all(r["feature"] in F.model_columns(spec) for r in reasons)
    magnitudes = [abs(r["contribution"]) for r in reasons]
    assert magnitudes == sorted(magnitudes, reverse=True) and magnitudes[0] > 0
    fmap = F.feature_map(spec)
    for reason in reasons:  # the value in the caller's terms: a category's label, not its code
        feature, sent = fmap[reason["feature"]], row[reason["feature"]]
        if feature["type"] == "category":
            assert reason["value"] == feature["categories"][sent]
        elif feature["type"] == "bool":
            assert reason["value"] is bool(sent)
        else:
            assert reason["value"] == pytest.approx(sent)


@pytest.mark.parametrize("method", ["approx", "exact"])
def test_contributions_are_xgboosts_own_and_the_score_is_unchanged(tmp_path, booster, spec, method):
    team = copy.deepcopy(spec)
    team["realtime"]["reason_method"] = method
    team["realtime"]["reason_codes"] = len(F.model_columns(spec))  # every feature
    model = inference.model_fn(str(model_dir(tmp_path, booster, team)))
    rows = [record(team), record(team, amount=12.0, channel="card_present", country="GB")]

    predictions = json.loads(score(model, rows))["predictions"]

    matrix = np.asarray([F.to_model_row(r, team) for r in rows], dtype="float32")
    dmatrix = xgb.DMatrix(matrix, feature_names=F.model_columns(team))
    expected = booster.predict(dmatrix, pred_contribs=True, approx_contribs=method == "approx")
    raw = booster.predict(dmatrix)
    for i, prediction in enumerate(predictions):
        assert prediction["score"] == pytest.approx(float(raw[i]), abs=1e-6)
        got = {r["feature"]: r["contribution"] for r in prediction["reasons"]}
        want = dict(zip(F.model_columns(team), expected[i, :-1].tolist(), strict=True))
        assert got == pytest.approx(want, abs=1e-5)


def test_no_reason_codes_when_the_team_asks_for_none(tmp_path, booster, spec):
    team = copy.deepcopy(spec)
    team["realtime"]["reason_codes"] = 0
    model = inference.model_fn(str(model_dir(tmp_path, booster, team)))

    prediction = json.loads(score(model, record(team)))["predictions"][0]

    assert set(prediction) == {"score"}


def test_batch_output_has_n_reason_columns_per_row_when_batch_reason_codes_is_set(tmp_path, booster, spec):
    team = copy.deepcopy(spec)
    team["batch"]["reason_codes"] = 2
    model = inference.model_fn(str(model_dir(tmp_path, booster, team)))
    rows = [record(team), record(team, amount=12.0, country="GB")]
    csv_rows = "".join(",".join("" if v is None else str(v) for v in F.to_model_row(r, team)) + "\n"
                       for r in rows)

    out = io.StringIO()
    assert inference.transform_file(model, io.StringIO(csv_rows), out, "text/csv") == 2
    jsonl = score(model, "".join(json.dumps(r) + "\n" for r in rows), "application/jsonlines",
                  "application/jsonlines")

    lines = [line.split(",") for line in out.getvalue().splitlines()]
    assert all(len(cells) == 1 + 2 * 3 for cells in lines)
    assert all(cells[1] in F.model_columns(team) and cells[4] in F.model_columns(team) for cells in lines)
    scores = booster.predict(xgb.DMatrix(np.asarray([F.to_model_row(r, team) for r in rows], dtype="float32"),
                                         feature_names=F.model_columns(team)))
    assert [float(c[0]) for c in lines] == pytest.approx(scores.tolist(), abs=1e-6)
    assert [len(json.loads(line)["reasons"]) for line in jsonl.splitlines()] == [2, 2]
