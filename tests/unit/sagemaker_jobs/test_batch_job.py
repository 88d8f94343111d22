"""The batch features job (sagemaker_jobs/batch/job.py): serving features for each record."""

from __future__ import annotations

import json

import numpy as np
import pytest
from batch import job as batch_job

from mdlc import features as F
from mdlc import synthetic
from tests.unit.sagemaker_jobs.support import SPEC


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
