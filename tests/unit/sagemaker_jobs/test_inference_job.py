"""The inference script (sagemaker_jobs/inference/inference.py, served by serve.py) as the
image's serving stack runs it, in the image's runtime."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from mdlc import bundle
from mdlc import features as F
from mdlc.harness import jobs as harness_jobs
from tests.unit.sagemaker_jobs.support import PY, RUNTIME


@pytest.fixture(scope="module")
def serve(pipeline, code, monkeypatch_module, tmp_path_factory):
    """The model behind the image's serving stack, in the image's runtime: the harness' model
    server (sagemaker-containers' Transformer and Worker), over HTTP. The bundle also goes on
    this process's sys.path for the in-process checks of the chunking arithmetic below."""
    import http.client
    import shutil
    import subprocess

    monkeypatch_module.syspath_prepend(str(code / "processing" / "input" / "code"))
    base = tmp_path_factory.mktemp("serving")
    shutil.copytree(pipeline["model_dir"], base / "model")
    env = harness_jobs.job_environment(base, {
        "SAGEMAKER_PROGRAM": bundle.INFERENCE_PROGRAM,
        "SAGEMAKER_SUBMIT_DIRECTORY": str(code / "job-code.tar.gz")}, RUNTIME,
        SAGEMAKER_BASE_DIR=str(base))
    server = subprocess.Popen([PY, str(harness_jobs.RUNTIME_SCRIPTS / "model_server.py")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    started = json.loads(server.stdout.readline())
    assert "port" in started, started

    def call(body: str, content_type: str = "application/json",
             accept: str = "application/json") -> tuple[bytes, int]:
        connection = http.client.HTTPConnection("127.0.0.1", started["port"], timeout=60)
        connection.request("POST", "/invocations", body=body.encode(),
                           headers={"Content-Type": content_type, "Accept": accept})
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        return payload, response.status

    yield call
    server.terminate()
    server.wait(timeout=10)


def _request(spec: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    record = {"amount": 950.0, "merchant_category": "gaming", "channel": "online",
              "country": "NG", "event_time": "2026-03-01T03:10:00Z"}
    online = {"txn_count_30d": 4, "amount_sum_30d": 160.0, "amount_mean_90d": 40.0,
              "account_tenure_days": 50.0, "home_country": "GB"}
    features = F.derive_record(record, online, spec)
    return {**features, **overrides}


def test_endpoint_scores_one_record_and_a_list(serve, spec, pipeline):
    body, status = serve(json.dumps(_request(spec)))
    assert status == 200, body
    result = json.loads(body)
    meta = json.loads((pipeline["model_dir"] / "model-meta.json").read_text())
    assert result["model_version"] == meta["model_version"]
    assert 0.0 <= result["predictions"][0]["score"] <= 1.0
    labels = _request(spec, merchant_category="gaming", channel="online", country="NG")
    body, _ = serve(json.dumps([labels, _request(spec, amount=12.0)]))
    assert len(json.loads(body)["predictions"]) == 2


def test_endpoint_rejects_a_wrong_type_naming_the_field(serve, spec):
    body, status = serve(json.dumps(_request(spec, amount="a lot")))
    assert status == 400 and "amount" in json.loads(body)["message"]
    body, status = serve(json.dumps(_request(spec, channel="carrier-pigeon")))
    assert status == 400 and "channel" in json.loads(body)["message"]
    body, status = serve(json.dumps({k: v for k, v in _request(spec).items() if k != "country"}))
    assert status == 400 and "'country' is missing" in json.loads(body)["message"]
    body, status = serve("amount\n1", content_type="application/xml")
    assert status == 415


def test_csv_request_and_chunked_batch_transform(serve, spec, pipeline, tmp_path):
    row = _request(spec)
    line = ",".join("" if row[c] is None else str(row[c]) for c in F.model_columns(spec))
    body, status = serve(line + "\n" + line + "\n", content_type="text/csv", accept="text/csv")
    assert status == 200 and len(body.splitlines()) == 2
    body, status = serve(line.replace("950.0", "-5"), content_type="text/csv")
    assert status == 400 and "'amount'" in json.loads(body)["message"]

    from inference import inference  # the bundle's copy, on sys.path via `serve`

    model = inference.model_fn(str(pipeline["model_dir"]))
    test_csv = tmp_path / "test.csv"
    pd.read_parquet(pipeline["splits"] / "test").to_csv(test_csv, index=False)
    out = io.StringIO()
    with test_csv.open() as src:
        rows = inference.transform_file(model, src, out, "text/csv", chunk_rows=500)
    scores = [float(s) for s in out.getvalue().splitlines()]
    assert rows == len(scores) == len(pd.read_csv(test_csv))
    whole = inference.predict_fn(inference.input_fn(test_csv.read_text(), "text/csv"), model)
    assert scores == [float(s) for s in whole["scores"]]


def test_streamed_csv_scoring_equals_the_checked_path_and_still_names_a_bad_value(spec):
    from inference import inference as inf  # after `serve`, which imports the bundle's copy

    columns = F.model_columns(spec)
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 3, 300) if c in ("merchant_category", "channel", "country") else
                         rng.integers(0, 2, 300) if c == "is_foreign" else rng.integers(0, 23, 300) for c in columns])
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=rng.integers(0, 2, 300),
                                                                      feature_names=columns), 5)
    model = inf.Model(booster, {"features": columns, "model_version": "t"}, spec)
    text = "".join(",".join(str(v) for v in row) + "\n" for row in x)
    fast, checked = io.StringIO(), io.StringIO()

    assert inf.transform_file(model, io.StringIO(text), fast, chunk_rows=64) == 300
    checked.write(inf.output_fn(inf.predict_fn(inf.input_fn(text, "text/csv"), model), "text/csv")[0])

    assert fast.getvalue() == checked.getvalue()
    bad = text.replace("\n", "\n-5," + ",".join(["1"] * (len(columns) - 1)) + "\n", 1)
    with pytest.raises(inf.InvalidInputError, match="amount"):
        inf.transform_file(model, io.StringIO(bad), io.StringIO(), chunk_rows=64)
