"""The inference script (sagemaker_jobs/inference/inference.py) as the serving toolkit runs it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from mdlc import bundle
from mdlc import features as F


class _Request:
    def __init__(self, content_type: str, accept: str):
        self.props = {"Content-Type": content_type, "Accept": accept}

    def get_request_properties(self) -> dict[str, str]:
        return self.props


class _Context:
    """The bits of the model server's context that the Transformer reads."""

    def __init__(self, model_dir: Path, content_type: str, accept: str):
        self.system_properties = {"model_dir": str(model_dir)}
        self.request_processor = [_Request(content_type, accept)]
        self.status: tuple[int, str] | None = None

    def set_response_status(self, code: int, phrase: str) -> None:
        self.status = (code, phrase)

    def set_response_content_type(self, idx: int, content_type: str) -> None:
        self.content_type = content_type


@pytest.fixture(scope="module")
def serve(pipeline, code, monkeypatch_module):
    """Invoke the model the way the serving toolkit does, in-process, from the bundle."""
    from sagemaker_inference.transformer import Transformer

    monkeypatch_module.syspath_prepend(str(code / "processing" / "input" / "code"))
    monkeypatch_module.setenv("SAGEMAKER_PROGRAM", bundle.INFERENCE_PROGRAM)
    transformer = Transformer()

    def call(body: str, content_type: str = "application/json",
             accept: str = "application/json") -> tuple[Any, _Context]:
        ctx = _Context(pipeline["model_dir"], content_type, accept)
        out = transformer.transform([{"body": body.encode()}], ctx)
        return out[0], ctx

    return call


def _request(spec: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    record = {"amount": 950.0, "merchant_category": "gaming", "channel": "online",
              "country": "NG", "event_time": "2026-03-01T03:10:00Z"}
    online = {"txn_count_30d": 4, "amount_sum_30d": 160.0, "amount_mean_90d": 40.0,
              "account_tenure_days": 50.0, "home_country": "GB"}
    features = F.derive_record(record, online, spec)
    return {**features, **overrides}


def test_endpoint_scores_one_record_and_a_list(serve, spec, pipeline):
    body, ctx = serve(json.dumps(_request(spec)))
    assert ctx.status is None
    result = json.loads(body)
    meta = json.loads((pipeline["model_dir"] / "model-meta.json").read_text())
    assert result["model_version"] == meta["model_version"]
    assert 0.0 <= result["predictions"][0]["score"] <= 1.0
    labels = _request(spec, merchant_category="gaming", channel="online", country="NG")
    body, _ = serve(json.dumps([labels, _request(spec, amount=12.0)]))
    assert len(json.loads(body)["predictions"]) == 2


def test_endpoint_rejects_a_wrong_type_naming_the_field(serve, spec):
    body, ctx = serve(json.dumps(_request(spec, amount="a lot")))
    assert ctx.status[0] == 400 and "amount" in ctx.status[1]
    body, ctx = serve(json.dumps(_request(spec, channel="carrier-pigeon")))
    assert ctx.status[0] == 400 and "channel" in ctx.status[1]
    body, ctx = serve(json.dumps({k: v for k, v in _request(spec).items() if k != "country"}))
    assert ctx.status[0] == 400 and "'country' is missing" in ctx.status[1]
    body, ctx = serve("amount\n1", content_type="application/xml")
    assert ctx.status[0] == 415


def test_csv_request_and_chunked_batch_transform(serve, spec, pipeline):
    row = _request(spec)
    line = ",".join("" if row[c] is None else str(row[c]) for c in F.model_columns(spec))
    body, ctx = serve(line + "\n" + line + "\n", content_type="text/csv", accept="text/csv")
    assert ctx.status is None and len(body.splitlines()) == 2
    body, ctx = serve(line.replace("950.0", "-5"), content_type="text/csv")
    assert ctx.status[0] == 400 and "'amount'" in ctx.status[1]

    from inference import inference  # the bundle's copy, on sys.path via `serve`

    model = inference.model_fn(str(pipeline["model_dir"]))
    test_csv = pipeline["splits"] / "test" / "data.csv"
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
