"""The streaming feature pipeline offline: decisions feed the stream, the consumer updates
the online table, the next decision sees every earlier transaction (exact point-in-time
parity), replays and failures are harmless, late events are refused, and reconciliation
finds a tampered entity.

Checks the product (templates, handlers, feature module) through the harness' Kinesis
event source mapping emulation.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mdlc import features as F
from mdlc import synthetic
from stacks.common.feature_names import stream_name

from .realtime_support import (
    CUSTOMERS,
    DAYS,
    SEED,
    TEAM,
    RealtimeTeam,
    deploy,
    install_model,
    request,
    scan_all,
    trained_model,
)

pytestmark = pytest.mark.slow
BURST_START = datetime(2026, 3, 1, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def team():
    model = trained_model()
    with RealtimeTeam(TEAM) as local:
        # the raw partition the installed model and its online table were built from
        local.put_raw(synthetic.generate(n_customers=CUSTOMERS, days=DAYS, seed=SEED), "2026-03-01")
        arn = install_model(local, model)[0]
        assert deploy(local, arn).succeeded
        local.customer = model.known_customer
        local.fed = []  # the requests the decisions fed into the stream
        yield local


def feature_table(team) -> str:
    return next(r.ref for r in team.resources.of_type("AWS::DynamoDB::Table") if r.stack == f"{TEAM}-data")


def decide(team, body) -> tuple[dict, dict]:
    """Run the decision workflow; the response and the model features the decision function merged
    (recorded with the decision)."""
    from mdlc.commands.lifecycle import recorded_features

    result = team.aws.run(team.state_machine_arn("decision"), {"body": body}, timeout=120)
    assert result.succeeded, result.cause
    team.fed.append(body)
    return result.output, recorded_features(team, body["request_id"])


def state_of(team, entity: str) -> F.EntityState:
    item = team.client("dynamodb").get_item(TableName=feature_table(team), Key={"customer_id": {"S": entity}})["Item"]
    return F.EntityState.from_json(item["state"]["S"], team.spec, F.lateness_us(team.spec))


def raw_history(team) -> pd.DataFrame:
    """The raw partition, read as the feature job reads it."""
    s3 = team.client("s3")
    bucket = team.bucket("raw")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith(".csv")]
    text = {"transaction_id": "string", "customer_id": "string", "event_time": "string",
            "merchant_category": "string", "channel": "string", "country": "string"}
    frames = [pd.read_csv(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read()), dtype=text)
              for k in keys]
    return pd.concat(frames, ignore_index=True)


def test_a_burst_of_ten_is_seen_by_the_eleventh_decision_with_exact_parity(team):
    before = state_of(team, team.customer).features_at(BURST_START)["txn_count_30d"]
    features = []
    for i in range(11):  # eleven transactions of one card within a minute
        at = (BURST_START + timedelta(seconds=5 * i)).isoformat().replace("+00:00", "Z")
        body = request(f"burst-{i}", team.customer, event_time=at, amount=20.0 + i, channel="online")
        _, used = decide(team, body)
        features.append(used)
        report = team.aws.deliver_kinesis()  # the event source mapping polls: about a second on AWS
        assert report.records == 1 and report.failed_batches == []
    assert [f["txn_count_30d"] for f in features] == [before + i for i in range(11)]
    # Parity: every decision got exactly the point-in-time features recomputed from raw.
    fed = pd.DataFrame([{k: v for k, v in b.items() if k != "request_id"} | {"is_fraud": 0} for b in team.fed])
    history = pd.concat([raw_history(team), fed], ignore_index=True)
    recomputed = F.encode_frame(F.point_in_time_features(history, team.spec), team.spec)
    rows = recomputed.iloc[len(history) - len(fed):]
    mismatches = [(i, name) for i, (used, (_, row)) in enumerate(zip(features, rows.iterrows(), strict=True))
                  for name, value in zip(F.model_columns(team.spec), F.to_model_row(used, team.spec), strict=True)
                  if not (value == row[name] or (np.isnan(value) and np.isnan(row[name])))]
    assert mismatches == []


def test_a_redelivered_stream_counts_nothing_twice(team):
    items = scan_all(team, feature_table(team))
    team.aws.kinesis.checkpoints.clear()  # at-least-once: the whole stream again
    report = team.aws.deliver_kinesis()
    assert report.records >= 11
    after = scan_all(team, feature_table(team))
    key = lambda item: item["customer_id"]["S"]  # noqa: E731
    assert [i["state"] for i in sorted(after, key=key)] == [i["state"] for i in sorted(items, key=key)]


def test_a_request_id_reused_with_other_content_is_refused_and_not_fed(team):
    count = state_of(team, team.customer).features_at("2026-03-01T15:00:00Z")["txn_count_30d"]
    # burst-3 was decided in the burst; the same request_id now names another transaction
    body = request("burst-3", team.customer, transaction_id="T-other-than-burst-3", amount=999.0,
                   event_time=(BURST_START + timedelta(seconds=15)).isoformat().replace("+00:00", "Z"))
    output, _ = decide(team, body)
    team.fed.pop()  # nothing was decided: not a transaction of the stream
    assert output["status"] == 409
    assert team.aws.deliver_kinesis().records == 0
    assert state_of(team, team.customer).features_at("2026-03-01T15:00:00Z")["txn_count_30d"] == count


def _put(team, body: dict) -> None:
    stream = stream_name(TEAM)
    team.client("kinesis").put_record(StreamName=stream, PartitionKey=body["customer_id"],
                                      ExplicitHashKey="1", Data=json.dumps(body).encode())


def test_a_write_failure_mid_batch_retries_only_from_the_failed_records(team):
    other = "C-STREAM-0002"
    t = "2026-03-02T09:00:0{}Z"
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    b = [strip(request(f"b{i}", other, event_time=t.format(i))) for i in (1, 2)]
    a = [strip(request(f"a{i}", team.customer, event_time=t.format(i + 2))) for i in (1, 2)]
    for body in b:
        _put(team, body)
    team.aws.deliver_kinesis()
    count_before = state_of(team, team.customer).features_at("2026-03-02T10:00:00Z")["txn_count_30d"]
    # One batch: a producer's retry of b1, b2 (replays, nothing to write), then a1, a2 whose
    # write fails once.
    for body in (*b, *a):
        _put(team, body)
    team.aws.inject_fault("dynamodb", "PutItem", "ValidationException", times=1, message="injected write failure")
    report = team.aws.deliver_kinesis()
    assert report.failed_batches == [] and report.invocations == 2
    assert report.retried_records == 2  # a1 and a2 again; b1, b2 were not redelivered
    assert state_of(team, other).features_at("2026-03-02T10:00:00Z")["txn_count_30d"] == 2
    assert state_of(team, team.customer).features_at("2026-03-02T10:00:00Z")["txn_count_30d"] == count_before + 2


def test_late_events_count_inside_the_allowed_lateness_and_are_refused_outside(team):
    newest = state_of(team, team.customer).newest_us
    inside = F.iso_from_us(newest - 30 * 60 * 10**6)  # lateness is 60 minutes
    outside = F.iso_from_us(newest - 3 * 3600 * 10**6)
    at = F.iso_from_us(newest + 1)
    count = state_of(team, team.customer).features_at(at)["txn_count_30d"]
    _put(team, {k: v for k, v in request("late-in", team.customer, event_time=inside).items() if k != "request_id"})
    _put(team, {k: v for k, v in request("late-out", team.customer, event_time=outside).items() if k != "request_id"})
    team.aws.deliver_kinesis()
    state = state_of(team, team.customer)
    assert state.features_at(at)["txn_count_30d"] == count + 1
    assert "T-late-in" in state.events and "T-late-out" not in state.events


def test_reconciliation_finds_a_tampered_entity_and_restores_a_missing_one(team):
    ddb, table = team.client("dynamodb"), feature_table(team)
    items = scan_all(team, table)
    # entities of the raw partition only (not the burst's card nor the stream-only one)
    raw = [i for i in sorted(items, key=lambda i: i["customer_id"]["S"])
           if i["customer_id"]["S"] not in (team.customer, "C-STREAM-0002")]
    victim = raw[0]
    state = json.loads(victim["state"]["S"])
    state["events"][-1][2][0] = state["events"][-1][2][0] + 1000.0  # an amount changed behind the pipeline
    victim["state"] = {"S": json.dumps(state)}
    ddb.put_item(TableName=table, Item=victim)
    gone = raw[-1]["customer_id"]["S"]
    ddb.delete_item(TableName=table, Key={"customer_id": {"S": gone}})

    summary = team.run("feature-backfill", check=True).output["summary"]

    assert summary["mismatched_entities"] == [victim["customer_id"]["S"]]
    assert summary["missing"] == 1 and summary["mismatch_rate"] == pytest.approx(1 / summary["compared"])
    assert "Item" in ddb.get_item(TableName=table, Key={"customer_id": {"S": gone}})
    # the burst and the late event (newer than the raw snapshot) are not mismatches
    repaired = team.run("feature-backfill", {"repair": True}, check=True).output["summary"]
    assert repaired["mismatched"] == 1 and repaired["written"] == 1
    assert team.run("feature-backfill", check=True).output["summary"]["mismatched"] == 0
