"""perform_action: a decision recorded once per request id (the stream publishes it); 409 for other content."""

from __future__ import annotations

import pytest

from lambdas.shared.aws import client
from tests.unit.lambdas.support import IDEMPOTENCY_TABLE

DECISIONS = "fraud-detection-decisions"


@pytest.fixture
def decision_log(aws, monkeypatch, handler):
    ddb = client("dynamodb")
    for table, key in ((DECISIONS, "request_id"), (IDEMPOTENCY_TABLE, "id")):
        ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}])
    monkeypatch.setenv("DECISIONS_TABLE", DECISIONS)
    # Module-level adapters bound at import: point them at this test's moto.
    monkeypatch.setattr(handler, "_log", None)
    monkeypatch.setattr(handler._persistence, "client", ddb)


def test_a_replayed_request_returns_the_first_response_and_records_once(handler, event, context, decision_log):
    first = handler.handler(event, context)
    replay = handler.handler(event, context)

    assert first == replay and first["status"] == 200 and first["decision"] == "REVIEW"
    assert first["request_id"] == "req-0001" and first["transaction_id"] == "T-0001"
    items = client("dynamodb").scan(TableName=DECISIONS)["Items"]
    assert len(items) == 1 and items[0]["decision"] == {"S": "REVIEW"}
    assert first["reason_codes"] == event["decision"]["reason_codes"]
    assert items[0]["decided_by"] == {"S": "hard_rule:high_risk_online_gaming"}


def test_the_same_request_id_with_other_content_is_a_409_and_records_nothing(handler, event, context, decision_log):
    first = handler.handler(event, context)
    other = {**event, "request": {**event["request"], "amount": 12.0, "country": "GB"}}

    conflict = handler.handler(other, context)  # Powertools' payload validation catches it

    assert conflict["status"] == 409 and conflict["fields"] == ["amount", "country"]
    assert handler.handler(event, context) == first
    items = client("dynamodb").scan(TableName=DECISIONS)["Items"]
    assert len(items) == 1 and '"amount": 950.0' in items[0]["request"]["S"]


def test_a_request_without_a_request_id_is_refused(handler, event, context, decision_log):
    request = {k: v for k, v in event["request"].items() if k != "request_id"}
    with pytest.raises(Exception, match="No data found to create a hashed idempotency_key"):
        handler.handler({**event, "request": request}, context)
