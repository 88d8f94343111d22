"""The feature job (sagemaker_jobs/features/job.py): time-ordered splits, the online table."""

from __future__ import annotations

import json

import pandas as pd
from features import job as features_job

from mdlc import features as F
from mdlc import synthetic as sy
from tests.unit.sagemaker_jobs.support import SPEC


def test_feature_job_writes_time_ordered_splits_and_online_table(pipeline, spec):
    keys = F.key_columns(spec)
    raw = pd.concat(pd.read_csv(p) for p in sorted(pipeline["raw"].rglob("*.csv")))
    times = raw.set_index(keys["id"])[keys["timestamp"]]
    splits = {n: pd.read_parquet(pipeline["splits"] / n / "part-00000.parquet") for n in
              ("train", "validation", "test")}
    for frame in splits.values():
        assert list(frame.columns) == [keys["id"], keys["label"], *F.model_columns(spec)]
    assert sum(len(f) for f in splits.values()) == len(raw)
    assert times[splits["train"][keys["id"]]].max() <= times[splits["test"][keys["id"]]].min()
    lines = (pipeline["online"] / "online_features.jsonl").read_text().splitlines()
    item = json.loads(lines[0])
    # one line per online item: every entity, and every value of the other keys (card, device, …)
    items = {i for key in F.aggregate_keys(spec) for i in (F.item_key(spec, key, v) for v in raw[key].dropna())}
    assert len(lines) == len(items) and {json.loads(line)[keys["entity"]] for line in lines} == items
    assert set(F.online_columns(spec)) <= set(item) and "as_of" in item


def test_the_train_split_has_one_part_per_training_instance(tmp_path):
    """ShardedByS3Key gives each instance its own objects: three instances need three parts,
    each spanning the whole training period; validation and test stay whole."""
    raw = sy.generate(n_customers=120, days=20, seed=5)
    spec = {**SPEC, "training": {**SPEC["training"], "instance_count": 3}}
    counts = features_job.write_splits(features_job.model_frame(raw, spec), raw, spec, tmp_path)

    parts = sorted((tmp_path / "train").iterdir())
    assert [p.name for p in parts] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    frames = [pd.read_parquet(p) for p in parts]
    assert sum(len(f) for f in frames) == counts["train"] and min(len(f) for f in frames) >= counts["train"] // 3
    keys = F.key_columns(spec)
    times = raw.set_index(keys["id"])[keys["timestamp"]]
    spans = [(times[f[keys["id"]]].min(), times[f[keys["id"]]].max()) for f in frames]
    assert max(s for s, _ in spans) < min(e for _, e in spans)  # interleaved, not consecutive periods
    assert [p.name for p in (tmp_path / "test").iterdir()] == ["part-00000.parquet"]


def test_online_table_is_written_in_shards_for_parallel_loading(tmp_path):
    """Large customer bases split into shards; each becomes one Distributed Map item."""
    raw = sy.generate(n_customers=250, days=20, seed=3)

    entities = features_job.write_online(raw, SPEC, "2026-01-21T00:00:00Z", tmp_path, shard_rows=300)

    shards = sorted(p.name for p in tmp_path.iterdir())
    items = raw["customer_id"].nunique() + raw["card_id"].nunique() + raw["device_id"].nunique()
    expected = ["online_features.jsonl"] + [f"online_features-{i:05d}.jsonl" for i in range(1, -(-items // 300))]
    assert shards == sorted(expected) and len(shards) > 1
    lines = sum(len(p.read_text().splitlines()) for p in tmp_path.iterdir())
    assert lines == entities == items
