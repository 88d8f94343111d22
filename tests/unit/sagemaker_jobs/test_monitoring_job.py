"""The monitoring job (sagemaker_jobs/monitoring/job.py): capture reader, PR-AUC, score PSI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from monitoring import job as monitoring_job

from mdlc import features as F
from tests.unit.sagemaker_jobs.support import SPEC


def capture_line(records: list[dict], scores: list[float], encoding: str = "JSON") -> str:
    body = json.dumps({"instances": records})
    out = json.dumps({"model_version": "v1", "predictions": [{"score": s} for s in scores]})
    if encoding == "BASE64":
        import base64

        body, out = base64.b64encode(body.encode()).decode(), base64.b64encode(out.encode()).decode()
    return json.dumps({"captureData": {
        "endpointInput": {"observedContentType": "application/json", "mode": "INPUT", "data": body,
                          "encoding": encoding},
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

    records, scores, ids, times = monitoring_job.read_capture(tmp_path / "capture", None, SPEC,
                                                              F.model_columns(SPEC))
    later, *_ = monitoring_job.read_capture(tmp_path / "capture", F.parse_time("2026-03-02T11:00:00Z"), SPEC, [])
    before, *_ = monitoring_job.read_capture(tmp_path / "capture", None, SPEC, [],
                                             until=F.parse_time("2026-03-02T10:00:00Z"))

    assert scores == [0.1, 0.9, 0.5] and ids == ["T1", "T2", "inf-1"]
    assert times == [F.parse_time("2026-03-02T10:00:00Z")] * 3
    assert before == []  # a window ends before the second it names
    assert monitoring_job.record_frame(records, SPEC, ["channel"])["channel"].tolist() == ["online", "", ""]
    assert later == []


def test_average_precision_matches_scikit_learn():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.05).astype(int)
    p = np.round(rng.random(2000) * 0.5 + y * 0.3, 2)  # ties included
    assert monitoring_job.average_precision(y, p) == pytest.approx(average_precision_score(y, p))


def test_psi_of_scores_is_small_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(1)
    reference = rng.beta(1, 30, 5000)
    assert monitoring_job.prediction_psi(reference, rng.beta(1, 30, 2000)) < 0.05
    assert monitoring_job.prediction_psi(reference, rng.beta(2, 10, 2000)) > 0.5
    assert monitoring_job.prediction_psi(reference, pd.Series([], dtype=float).to_numpy()) is None


def test_batch_runs_count_in_the_window_they_were_published_in(tmp_path):
    # The run's batch input holds every run of its window and its quality window; each
    # run's _manifest.json says when it was published.
    for run, published in (("20260302T030000-aaaaaa", "2026-03-02T03:20:00+00:00"),
                           ("20260302T050000-bbbbbb", "2026-03-02T05:20:00+00:00")):
        folder = tmp_path / "batch" / "results" / run
        folder.mkdir(parents=True)
        (folder / "part-00000.csv").write_text(f"transaction_id,score\n{run[-6:]},0.5\n")
        (folder / "_manifest.json").write_text(json.dumps({"run_id": run, "published_at": published}))
    at = F.parse_time

    early = monitoring_job.read_batch(tmp_path, SPEC, at("2026-03-02T03:00:00Z"), at("2026-03-02T04:00:00Z"))
    both = monitoring_job.read_batch(tmp_path, SPEC, at("2026-03-02T03:00:00Z"), at("2026-03-02T06:00:00Z"))

    assert early["id"].tolist() == ["aaaaaa"]
    assert sorted(both["id"]) == ["aaaaaa", "bbbbbb"]


def served_features(raw: pd.DataFrame, row: pd.Series, spec: dict, lag: int = 0) -> dict:
    """What the decision path serves for ``row``: its request merged (``derive_record_items``)
    with every key's state (customer, card, device) after every earlier event of the raw data,
    but the entity's own last ``lag`` (a stream consumer that has not caught up on it)."""
    keys = F.key_columns(spec)
    times = F.parse_times_ns(raw[keys["timestamp"]])
    earlier = raw[times < F.parse_times_ns(pd.Series([row[keys["timestamp"]]]))[0]]
    if lag:
        mine = earlier.index[earlier[keys["entity"]] == row[keys["entity"]]]
        earlier = earlier.drop(mine[len(mine) - lag:])
    states = F.states_from_records(earlier.astype(object).where(earlier.notna(), None).to_dict("records"), spec)
    record = {c: (None if pd.isna(row[c]) else row[c]) for c in [keys["timestamp"], *F.record_columns(spec)]}
    wanted = F.request_item_keys({**record, keys["entity"]: row[keys["entity"]]}, spec)
    items = {key: {"state": states[item].to_json()} if item in states else None for key, item in wanted.items()}
    return F.derive_record_items(record, items, spec)


def test_skew_is_zero_when_serving_saw_every_earlier_event_and_names_the_features_a_lagging_stream_skews(tmp_path):
    # Job-code test (the monitor's skew check) against the product's own serving merge.
    from mdlc import synthetic as sy

    sy.write_partitions(sy.generate(n_customers=15, days=20, seed=3), tmp_path / "raw")
    raw = monitoring_job.read_events(tmp_path / "raw", SPEC)
    repeat = raw[raw.duplicated("customer_id", keep="first")]  # entities with history
    picked = repeat.iloc[::max(len(repeat) // 30, 1)].head(30)
    served = [served_features(raw, row, SPEC) for _, row in picked.iterrows()]
    ids = picked["transaction_id"].tolist()

    exact = monitoring_job.feature_skew(served + [served[0]], ids + ["NOT-EXPORTED-YET"], raw, SPEC)

    assert exact["checked"] == 30 and exact["unmatched"] == 1 and exact["mismatched"] == 0
    assert set(exact["feature_skew"]) == set(F.model_columns(SPEC))
    assert exact["max_feature_skew"] == 0.0 and exact["max_skew_feature"] is None

    lagging = [served_features(raw, row, SPEC, lag=1 if i < 3 else 0) for i, (_, row) in enumerate(picked.iterrows())]
    skewed = monitoring_job.feature_skew(lagging, ids, raw, SPEC)

    assert skewed["mismatched"] == 3
    assert skewed["feature_skew"]["txn_count_30d"] == pytest.approx(3 / 30)
    assert skewed["feature_skew"]["amount"] == 0.0  # the request's own values are never skewed
    assert skewed["examples"]["txn_count_30d"] == ids[:3]
    assert skewed["max_feature_skew"] == pytest.approx(3 / 30) and skewed["max_skew_feature"] in skewed["examples"]


def test_skew_without_raw_data_counts_every_decision_as_unmatched():
    out = monitoring_job.feature_skew([{"amount": 1.0}], ["T1"], pd.DataFrame(), SPEC)
    assert out["checked"] == 0 and out["unmatched"] == 1 and out["max_feature_skew"] is None
    assert "none found in the raw data" in out["note"]
