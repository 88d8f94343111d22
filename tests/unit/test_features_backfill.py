"""Backfill and reconciliation logic (lambdas/shared/backfill.py) and the publish handler on
their sample events: entity shards, missing/stale/mismatched entities, the mismatch rate."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from lambdas.shared import backfill
from lambdas.shared.aws import reset_clients
from mdlc import features as F
from mdlc import synthetic as sy
from mdlc.contract import MODELS_DIR, load_team, runtime_spec

from .test_features_consumer import MemoryStore

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))
FOLDER = Path(__file__).resolve().parents[2] / "lambdas" / "features"
publish = importlib.import_module("lambdas.features.publish_reconciliation.handler")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    frame = sy.generate(n_customers=30, days=40, seed=2).astype(str)
    return frame.to_dict("records")


def test_a_fresh_table_is_bootstrapped_and_then_matches(rows):
    store = MemoryStore()
    first = backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)
    assert first["missing"] == first["written"] == first["entities"] == 30
    again = backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)
    assert (again["compared"], again["mismatched"], again["written"]) == (30, 0, 0)


def test_a_tampered_entity_is_found_and_repaired_only_when_asked(rows):
    store = MemoryStore()
    backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)
    victim = sorted(store.items)[3]
    text, revision = store.items[victim]
    state = json.loads(text)
    state["events"] = state["events"][:-1]  # the stream lost an event
    store.items[victim] = (json.dumps(state), revision)
    found = backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)
    assert found["mismatched_entities"] == [victim] and found["written"] == 0
    fixed = backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=True)
    assert fixed["written"] == 1
    assert backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)["mismatched"] == 0


def test_events_newer_than_the_snapshot_are_not_mismatches(rows):
    store = MemoryStore()
    backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)
    entity = sorted(store.items)[0]
    state, revision = store.load(entity)
    state.add(*state.event_from_record({**rows[0], "customer_id": entity, "transaction_id": "NEW-1",
                                        "event_time": "2026-03-01T10:00:00Z"}))
    store.save(entity, state, revision, writer="stream")
    assert backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)["mismatched"] == 0


def test_plan_puts_each_entity_in_one_shard(rows, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        reset_clients()
        s3 = boto3.client("s3", region_name="eu-west-1")
        for bucket in ("raw", "feat"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        header = list(rows[0])
        body = ",".join(header) + "\n" + "\n".join(",".join(r[h] for h in header) for r in rows)
        s3.put_object(Bucket="raw", Key="raw/dt=2026-03-01/part-0.csv", Body=body.encode())
        assert backfill.latest_partition("raw", "raw/") == "s3://raw/raw/dt=2026-03-01/"
        planned = backfill.plan("s3://raw/raw/dt=2026-03-01/", "s3://feat/backfill/r1/", SPEC, shard_rows=300)
        assert planned["shards"] == -(-len(rows) // 300) and planned["rows"] == len(rows)
        owner: dict[str, int] = {}
        for i in range(planned["shards"]):
            text = s3.get_object(Bucket="feat", Key=f"backfill/r1/shard-{i:05d}.jsonl")["Body"].read().decode()
            for line in filter(None, text.splitlines()):
                assert owner.setdefault(json.loads(line)["customer_id"], i) == i
        assert len(owner) == 30
        newest = max(F.time_us(r["event_time"]) for r in rows)
        assert F.time_us(planned["snapshot_end"]) == newest + 1
    reset_clients()


def test_publish_sums_the_shards_of_its_sample_event():
    event = json.loads((FOLDER / "publish_reconciliation" / "event.json").read_text())
    summary = publish.summarise(event["run"], event["shards"])
    assert (summary["compared"], summary["mismatched"], summary["written"]) == (998, 1, 2)
    assert summary["mismatch_rate"] == pytest.approx(1 / 998) and summary["mismatched_entities"] == ["C-000042"]
