"""Job scripts and handlers of batch, monitoring and retraining, without a workflow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lambdas.retraining.start_retraining import handler as retraining
from mdlc import features as F
from mdlc import synthetic
from mdlc.contract import MODELS_DIR, load_team, runtime_spec
from sagemaker_jobs.batch import job as batch_job
from sagemaker_jobs.data_quality import job as dq_job
from sagemaker_jobs.monitoring import job as monitoring_job

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "team.json").write_text(json.dumps(SPEC))
    return tmp_path / "config"


def test_scoring_input_without_a_label_passes_data_quality_only_when_asked(tmp_path, config):
    frame = synthetic.generate(n_customers=200, days=10, seed=1).drop(columns=["is_fraud"])
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "part-0.csv", index=False)
    args = ["--data", str(tmp_path / "data"), "--config", str(config), "--baseline", str(tmp_path / "none"),
            "--report-dir", str(tmp_path / "r"), "--statistics-dir", str(tmp_path / "s")]

    strict = dq_job.run(dq_job.parse_args(args))
    scoring = dq_job.run(dq_job.parse_args([*args, "--require-label", "false"]))

    assert any(v["check"] == "column_missing" and v["feature"] == "is_fraud" for v in strict["violations"])
    assert scoring["passed"], scoring["violations"]


@pytest.mark.parametrize("content_type", ["text/csv", "application/jsonlines"])
def test_batch_features_give_the_serving_features_of_each_record(tmp_path, config, content_type):
    history = synthetic.generate(n_customers=50, days=20, seed=2)
    snapshot = F.online_features_frame(history, SPEC, "2026-01-21T00:00:00Z")
    (tmp_path / "online").mkdir()
    snapshot.astype(object).where(snapshot.notna(), None).to_json(tmp_path / "online" / "o.jsonl", orient="records",
                                                                  lines=True)
    records = synthetic.generate(n_customers=60, days=2, seed=3, start="2026-01-22")  # some unknown customers
    (tmp_path / "data").mkdir()
    records.to_csv(tmp_path / "data" / "part-0.csv", index=False)

    summary = batch_job.run(batch_job.parse_args([
        "--data", str(tmp_path / "data"), "--online", str(tmp_path / "online"), "--config", str(config),
        "--output-dir", str(tmp_path / "out"), "--summary-dir", str(tmp_path / "sum"), "--content-type", content_type,
    ]))

    assert summary["rows"] == len(records)
    out = next((tmp_path / "out").iterdir()).read_text().splitlines()
    assert len(out) == len(records)
    online = snapshot.set_index("customer_id")
    for i in (0, len(records) // 2, len(records) - 1):
        rec = records.iloc[i]
        item = online.loc[rec.customer_id].to_dict() if rec.customer_id in online.index else None
        expected = F.to_model_row(F.derive_record(
            {k: rec[k] for k in ("amount", "merchant_category", "channel", "country", "event_time")}, item, SPEC), SPEC)
        if content_type == "text/csv":
            ident, *values = out[i].split(",")
            got = [float(v) if v else float("nan") for v in values]
        else:
            row = json.loads(out[i])
            ident = row.pop("transaction_id")
            got = [float("nan") if row[c] is None else float(row[c]) for c in F.model_columns(SPEC)]
        assert ident == rec.transaction_id
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def capture_line(records: list[dict], scores: list[float], encoding: str = "JSON") -> str:
    body = json.dumps({"instances": records})
    out = json.dumps({"model_version": "v1", "predictions": [{"score": s} for s in scores]})
    if encoding == "BASE64":
        import base64

        body, out = base64.b64encode(body.encode()).decode(), base64.b64encode(out.encode()).decode()
    return json.dumps({"captureData": {
        "endpointInput": {"observedContentType": "application/json", "mode": "INPUT", "data": body, "encoding": encoding},
        "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": out,
                           "encoding": encoding}},
        "eventMetadata": {"eventId": "e1", "inferenceId": "inf-1", "inferenceTime": "2026-03-02T10:00:00Z"},
        "eventVersion": "0"})


def test_capture_reader_follows_sagemaker_format_and_the_window(tmp_path):
    folder = tmp_path / "capture" / "ep" / "AllTraffic" / "2026" / "03" / "02" / "10"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text("\n".join([
        capture_line([{"transaction_id": "T1", "amount": 5.0, "channel": 2}, {"transaction_id": "T2", "amount": 7.0}],
                     [0.1, 0.9]),
        capture_line([{"amount": 9.0}], [0.5], encoding="BASE64"),
    ]) + "\n")

    records, scores, ids = monitoring_job.read_capture(tmp_path / "capture", None, SPEC, F.model_columns(SPEC))
    later, _, _ = monitoring_job.read_capture(tmp_path / "capture", F.parse_time("2026-03-02T11:00:00Z"), SPEC, [])

    assert scores == [0.1, 0.9, 0.5] and ids == ["T1", "T2", "inf-1"]
    assert monitoring_job.record_frame(records, SPEC, ["channel"])["channel"].tolist() == ["online", "", ""]
    assert later == []


def test_average_precision_matches_scikit_learn():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.05).astype(int)
    p = np.round(rng.random(2000) * 0.5 + y * 0.3, 2)  # ties included
    assert monitoring_job.average_precision(y, p) == pytest.approx(average_precision_score(y, p))


@pytest.mark.parametrize(("event", "reason"), [
    ({"detail-type": "Scheduled Event", "source": "aws.events"}, "schedule"),
    ({"detail-type": "CloudWatch Alarm State Change",
      "detail": {"alarmName": "fraud-detection-pr-auc-low", "state": {"value": "ALARM"}}}, "quality:pr_auc"),
    ({"detail-type": "CloudWatch Alarm State Change",
      "detail": {"alarmName": "fraud-detection-pr-auc-low", "state": {"value": "OK"}}}, None),
    ({"reason": "manual"}, "manual"),
    ({}, "manual"),
])
def test_retraining_reason_comes_from_the_trigger(event, reason, monkeypatch):
    monkeypatch.setenv("ALARM_REASONS", json.dumps({"fraud-detection-pr-auc-low": "quality:pr_auc"}))
    assert retraining.reason_of(event) == reason


def test_psi_of_scores_is_small_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(1)
    reference = rng.beta(1, 30, 5000)
    assert monitoring_job.prediction_psi(reference, rng.beta(1, 30, 2000)) < 0.05
    assert monitoring_job.prediction_psi(reference, rng.beta(2, 10, 2000)) > 0.5
    assert monitoring_job.prediction_psi(reference, pd.Series([], dtype=float).to_numpy()) is None


def test_streamed_csv_scoring_equals_the_checked_path_and_still_names_a_bad_value(tmp_path):
    import io

    import xgboost as xgb

    from sagemaker_jobs.inference import inference as inf

    columns = F.model_columns(SPEC)
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 3, 300) if c in ("merchant_category", "channel", "country") else
                         rng.integers(0, 2, 300) if c == "is_foreign" else rng.integers(0, 23, 300) for c in columns])
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=rng.integers(0, 2, 300),
                                                                      feature_names=columns), 5)
    model = inf.Model(booster, {"features": columns, "model_version": "t"}, SPEC)
    text = "".join(",".join(str(v) for v in row) + "\n" for row in x)
    fast, checked = io.StringIO(), io.StringIO()

    assert inf.transform_file(model, io.StringIO(text), fast, chunk_rows=64) == 300
    checked.write(inf.output_fn(inf.predict_fn(inf.input_fn(text, "text/csv"), model), "text/csv")[0])

    assert fast.getvalue() == checked.getvalue()
    bad = text.replace("\n", "\n-5," + ",".join(["1"] * (len(columns) - 1)) + "\n", 1)
    with pytest.raises(inf.InvalidInputError, match="amount"):
        inf.transform_file(model, io.StringIO(bad), io.StringIO(), chunk_rows=64)
