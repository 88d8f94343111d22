"""plan_backfill: the raw partition split into entity shards in the features bucket."""

from __future__ import annotations

import json

from lambdas.shared.aws import client
from mdlc import features as F
from tests.unit.lambdas.features.raw import raw_records, to_csv
from tests.unit.lambdas.support import DATA_ENV


def test_each_entity_lands_in_one_shard_and_the_snapshot_ends_after_the_newest_record(handler, event, context,
                                                                                       monkeypatch):
    monkeypatch.setenv("SHARD_ROWS", "300")
    rows = raw_records(n_entities=30, days=40, seed=2)
    bucket, key = event["input"]["data_prefix"][5:].split("/", 1)
    client("s3").put_object(Bucket=bucket, Key=f"{key}part-0.csv", Body=to_csv(rows).encode())

    run = handler.handler(event, context)

    assert run["shards"] == -(-len(rows) // 300) and run["rows"] == len(rows)
    assert run["shard_bucket"] == DATA_ENV["FEATURES_BUCKET"]
    owner: dict[str, int] = {}
    for i in range(run["shards"]):
        body = client("s3").get_object(Bucket=run["shard_bucket"], Key=f"{run['shard_prefix']}shard-{i:05d}.jsonl")
        for line in filter(None, body["Body"].read().decode().splitlines()):
            assert owner.setdefault(json.loads(line)["customer_id"], i) == i
    assert len(owner) == len({r["customer_id"] for r in rows})
    assert F.time_us(run["snapshot_end"]) == max(F.time_us(r["event_time"]) for r in rows) + 1
