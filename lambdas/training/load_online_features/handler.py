"""Load the per-entity online features the feature job wrote into the DynamoDB table."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.shared import s3uri
from lambdas.shared.aws import client
from lambdas.shared.spec import env, team_spec

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def to_item(record: dict[str, Any], key: str, run_id: str) -> dict[str, Any]:
    """DynamoDB item of one entity: numbers as Decimal, nulls dropped, key as string."""
    if record.get(key) in (None, ""):
        raise ValueError(f"online feature record without {key!r}: {str(record)[:200]}")
    item: dict[str, Any] = {"feature_run_id": run_id}
    for name, value in record.items():
        if value is None or (isinstance(value, float) and value != value):
            continue
        if isinstance(value, bool):
            item[name] = value
        elif isinstance(value, int | float):
            item[name] = Decimal(str(value))
        else:
            item[name] = str(value)
    item[key] = str(record[key])
    return item


def load(uri: str, table_name: str, run_id: str) -> int:
    key = team_spec()["schema"]["entity_key"]
    bucket, obj = s3uri.split(uri)
    body = client("s3").get_object(Bucket=bucket, Key=obj)["Body"]
    table = _resource().Table(table_name)
    count = 0
    with table.batch_writer(overwrite_by_pkeys=[key]) as batch:
        for line in body.iter_lines():
            if line.strip():
                batch.put_item(Item=to_item(json.loads(line), key, run_id))
                count += 1
    return count


def _resource():
    import boto3

    return boto3.resource("dynamodb", region_name=client("dynamodb").meta.region_name)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: ``{"uri": "s3://…/online_features.jsonl", "run_id": …}``."""
    count = load(event["uri"], env("FEATURE_TABLE"), event.get("run_id", ""))
    metrics.add_metric(name="OnlineFeatureItemsLoaded", unit=MetricUnit.Count, value=count)
    logger.info("loaded online features", extra={"items": count})
    return {"items": count}
