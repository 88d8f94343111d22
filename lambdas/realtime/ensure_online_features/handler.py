"""Deployment gate: the online table must hold the feature definitions the deployed model
is served with. When it does not (a new team, or a changed aggregate, window or lateness),
start the feature backfill and tell the deployment workflow to wait for it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared import backfill
from lambdas.shared.aws import client
from lambdas.shared.spec import env, team_spec
from mdlc import features as F

logger = Logger()
tracer = Tracer()


class FeatureBackfillFailed(Exception):
    """The backfill the deployment waited for did not succeed: the deployment stops."""


def check(spec: dict[str, Any], backfill_arn: str, previous: str | None = None) -> dict[str, Any]:
    """``{"ready": bool, "expected", "found", "backfill"}``; starts the backfill when needed.

    ``previous`` is the backfill execution an earlier check started; if it ended without
    success, FeatureBackfillFailed stops the deployment instead of waiting forever.
    """
    expected = F.state_signature(spec, F.lateness_us(spec))
    ssm = client("ssm")
    try:
        found = ssm.get_parameter(Name=backfill.signature_parameter(spec["name"]))["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        found = None
    if found == expected:
        return {"ready": True, "expected": expected, "found": found, "backfill": None}
    sfn = client("stepfunctions")
    if previous:
        status = sfn.describe_execution(executionArn=previous)["status"]
        if status in ("FAILED", "TIMED_OUT", "ABORTED"):
            raise FeatureBackfillFailed(f"feature backfill {previous} ended {status}; the online table still "
                                        f"holds feature definitions {found!r}, the model needs {expected!r}")
    running = sfn.list_executions(stateMachineArn=backfill_arn, statusFilter="RUNNING").get("executions", [])
    if running:
        started = running[0]["executionArn"]
    else:
        started = sfn.start_execution(stateMachineArn=backfill_arn,
                                      input='{"reason": "deployment: online table lacks the model\'s features"}'
                                      )["executionArn"]
        logger.info("feature backfill started for the deployment", extra={"expected": expected, "found": found,
                                                                          "execution": started})
    return {"ready": False, "expected": expected, "found": found, "backfill": started}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: ``{"state": workflow state}`` (``online_features.backfill`` of an earlier check)."""
    previous = ((event.get("state") or {}).get("online_features") or {}).get("backfill")
    return check(team_spec(), env("BACKFILL_STATE_MACHINE"), previous)
