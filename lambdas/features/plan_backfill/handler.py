"""Backfill step 1: split the newest raw partition (or ``data_prefix``) into entity shards."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared import backfill, s3uri
from lambdas.shared.spec import env, team_spec

logger = Logger()
tracer = Tracer()


def prepare(event: dict[str, Any], execution: str, spec: dict[str, Any]) -> dict[str, Any]:
    """``{"data_prefix"?, "repair"?}`` → the run: shards under the features bucket, snapshot end."""
    data_uri = event.get("data_prefix") or backfill.latest_partition(env("RAW_BUCKET"), spec["data"]["raw_prefix"])
    if not data_uri.endswith("/"):
        data_uri += "/"
    prefix = s3uri.uri(env("FEATURES_BUCKET"), f"backfill/{execution}/shards/")
    planned = backfill.plan(data_uri, prefix, spec, int(os.environ.get("SHARD_ROWS") or 50_000))
    return {"run_id": execution, "data_uri": data_uri, "repair": bool(event.get("repair", False)),
            "shard_bucket": env("FEATURES_BUCKET"), "shard_prefix": f"backfill/{execution}/shards/", **planned}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: ``{"execution": name, "input": execution input}``."""
    run = prepare(event.get("input") or {}, event["execution"], team_spec())
    logger.info("backfill planned", extra=run)
    return run
