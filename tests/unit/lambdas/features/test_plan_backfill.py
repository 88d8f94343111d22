"""plan_backfill: the raw partition split into shards of online items (entities, cards, devices) in the
features bucket. Product tests."""

from __future__ import annotations

import json

from lambdas.shared import backfill
from lambdas.shared.aws import client
from mdlc import features as F
from tests.unit.lambdas.features.raw import raw_records, to_csv
from tests.unit.lambdas.support import DATA_ENV, SPEC


def test_each_entity_lands_in_one_shard_and_the_snapshot_ends_after_the_newest_record(handler, event, context,
                                                                                       monkeypatch):
    monkeypatch.setenv("SHARD_ROWS", "300")
    rows = raw_records(n_entities=30, days=40, seed=2)
    bucket, key = event["input"]["data_prefix"][5:].split("/", 1)
    client("s3").put_object(Bucket=bucket, Key=f"{key}part-0.csv", Body=to_csv(rows).encode())

    run = handler.handler(event, context)

    assert run["shards"] == -(-len(rows) // 300) and run["rows"] == len(rows)
    assert run["shard_bucket"] == DATA_ENV["FEATURES_BUCKET"]
    n = run["shards"]
    held: dict[tuple[int, str], int] = {}  # (shard, item key) -> rows of that item in that shard
    for i in range(n):
        name = f"{run['shard_prefix']}shard-{i:05d}-of-{n:05d}.jsonl"
        body = client("s3").get_object(Bucket=run["shard_bucket"], Key=name)
        for line in filter(None, body["Body"].read().decode().splitlines()):
            for item in F.request_item_keys(json.loads(line), SPEC).values():
                held[i, item] = held.get((i, item), 0) + 1
    # every item (customer, card, device) has all its rows in the one shard that owns it
    expected: dict[str, int] = {}
    for row in rows:
        for item in F.request_item_keys(row, SPEC).values():
            expected[item] = expected.get(item, 0) + 1
    assert {item: held.get((backfill.shard_of(item, n), item)) for item in expected} == expected
    assert any(item.startswith("device_id#") for item in expected)
    assert F.time_us(run["snapshot_end"]) == max(F.time_us(r["event_time"]) for r in rows) + 1
