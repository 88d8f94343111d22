"""Backfill step 3: sum the shards, publish the mismatch rate (the production parity check)
and record which feature definitions the online table now holds."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.shared import backfill, s3uri
from lambdas.shared.aws import client
from lambdas.shared.spec import env, team_spec
from mdlc import features as F

logger = Logger()
tracer = Tracer()
metrics = Metrics()

COUNTS = ("entities", "compared", "missing", "stale", "mismatched", "written")


def summarise(run: dict[str, Any], shards: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over the shards and the mismatch rate (mismatched / compared entities)."""
    total = {key: sum(int(s.get(key, 0)) for s in shards) for key in COUNTS}
    total["mismatch_rate"] = total["mismatched"] / total["compared"] if total["compared"] else 0.0
    total["mismatched_entities"] = [e for s in shards for e in s.get("mismatched_entities", [])][:20]
    total.update({"run_id": run["run_id"], "data_uri": run["data_uri"], "snapshot_end": run["snapshot_end"]})
    return total


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``{"run": plan output, "shards": [shard results]}`` → the summary (also in S3)."""
    spec = team_spec()
    summary = summarise(event["run"], event["shards"])
    summary["signature"] = F.state_signature(spec, F.lateness_us(spec))
    metrics.add_metric(name="ReconciliationMismatchRate", unit=MetricUnit.Count, value=summary["mismatch_rate"])
    for name, key in (("ReconciliationMismatches", "mismatched"), ("EntitiesBackfilled", "written"),
                      ("StaleEntityStates", "stale")):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=summary[key])
    s3uri.write_json(s3uri.uri(env("REPORTS_BUCKET"), f"features/reconciliation/{summary['run_id']}.json"), summary)
    client("ssm").put_parameter(Name=backfill.signature_parameter(spec["name"]), Value=summary["signature"],
                                Type="String", Overwrite=True)
    # Counts only: the mismatched entities (customer ids) stay in the report, under the team key.
    logger.info("reconciliation", extra={k: v for k, v in summary.items() if k != "mismatched_entities"})
    return summary
