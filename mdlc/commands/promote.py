"""``mdlc promote``: make the shadow challenger live through the normal deployment workflow.

The challenger of ``realtime.shadow`` is a model package version kept PendingManualApproval
(approving a version deploys it live). Promoting it is the approval the team would give by
hand: the version becomes Approved, EventBridge's approval rule starts the deployment
workflow (blue/green canary, rollback alarms, smoke test: everything a new version gets) and
this command follows that execution; if no execution for the version starts within
``--rule-wait`` seconds (an already Approved version, or a rule that is off), it starts the
workflow itself. A candidate policy is promoted through the team file (``decision_rules``),
where the pipeline's backtest guardrails judge it: the command prints the block to paste.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

import click
import yaml

from mdlc.contract import MODELS_DIR, TeamConfig, TeamFileError, load_team
from mdlc.names import model_package_group, state_machine_name

APPROVAL = "promoted from realtime.shadow by mdlc promote"


class PromoteError(RuntimeError):
    """Nothing to promote, or a version that cannot go live."""


def register(main: click.Group, local: click.Group) -> None:
    main.add_command(promote)


def shadow_package_arn(team: TeamConfig, region: str, account: str) -> str:
    shadow = team.realtime.shadow
    if shadow is None:
        raise PromoteError(f"models/{team.name}.yaml has no realtime.shadow; expected a challenger, e.g. "
                           "realtime: {shadow: {model_version: 7}}")
    if shadow.model_version is None:
        raise PromoteError("realtime.shadow names no model_version: a candidate policy is promoted through the "
                           "team file (see the decision_rules block printed above)")
    return (f"arn:aws:sagemaker:{region}:{account}:model-package/{model_package_group(team.name)}/"
            f"{shadow.model_version}")


def policy_block(team: TeamConfig) -> str | None:
    """The team file's ``decision_rules`` that make the candidate policy live (None: no candidate)."""
    shadow = team.realtime.shadow
    if shadow is None or shadow.decision_rules is None:
        return None
    rules = shadow.decision_rules.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump({"decision_rules": rules}, sort_keys=False)


def _deployments_of(sfn: Any, machine: str, arn: str, since: float) -> str | None:
    """The newest execution of the deployment workflow started for ``arn`` since ``since``."""
    listed = sfn.list_executions(stateMachineArn=machine, maxResults=20)["executions"]
    for execution in sorted(listed, key=lambda e: e["startDate"].timestamp(), reverse=True):
        if execution["startDate"].timestamp() < since - 5:
            break
        started = json.loads(sfn.describe_execution(executionArn=execution["executionArn"]).get("input") or "{}")
        named = started.get("model_package_arn") or (started.get("detail") or {}).get("ModelPackageArn")
        if named == arn:
            return execution["executionArn"]
    return None


def promote_shadow(*, team: TeamConfig, sagemaker: Any, ssm: Any, stepfunctions: Any, machine: str,
                   package_arn: str, rule_wait: float = 60.0, poll_seconds: int = 30,
                   force: bool = False) -> dict[str, Any]:
    """Approve the shadow's version and return the deployment execution that makes it live."""
    from stacks.realtime.names import deployed_parameter

    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    status = package.get("ModelApprovalStatus")
    if status == "Rejected":
        raise PromoteError(f"{package_arn} is Rejected; a rejected version never goes live")
    try:
        record = json.loads(ssm.get_parameter(Name=deployed_parameter(team.name))["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        record = {}
    if record.get("model_package_arn") == package_arn:
        raise PromoteError(f"{package_arn} is already live; remove realtime.shadow from models/{team.name}.yaml")
    if (record.get("shadow") or {}).get("model_package_arn") != package_arn and not force:
        raise PromoteError(f"{package_arn} has not been served as the shadow (the deployed record names "
                           f"{(record.get('shadow') or {}).get('model_package_arn') or 'no shadow'}), so there is "
                           "no comparison on live traffic to promote on; deploy the shadow first, or --force")
    started_at = time.time()
    if status != "Approved":
        sagemaker.update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus="Approved",
                                       ApprovalDescription=APPROVAL)
        deadline = time.monotonic() + rule_wait
        while True:  # the approval rule starts the deployment on AWS: follow that one, never a second
            execution = _deployments_of(stepfunctions, machine, package_arn, started_at)
            if execution or time.monotonic() >= deadline:
                break
            time.sleep(2)
        if execution:
            return {"package": package_arn, "approved": True, "execution_arn": execution, "started_by": "rule"}
    version = package_arn.rsplit("/", 1)[-1]
    started = stepfunctions.start_execution(
        stateMachineArn=machine, name=f"promote-v{version}-{uuid.uuid4().hex[:8]}",
        input=json.dumps({"model_package_arn": package_arn, "reason": "promote", "poll_seconds": poll_seconds}))
    return {"package": package_arn, "approved": status != "Approved", "execution_arn": started["executionArn"],
            "started_by": "mdlc promote"}


@click.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--stage", default="production", show_default=True, help="Stage in the team file's environments.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the deployment to its end.")
@click.option("--rule-wait", default=60.0, show_default=True,
              help="Seconds to wait for the approval rule to start the deployment before starting it here.")
@click.option("--force", is_flag=True, help="Promote a version that was never served as the shadow.")
def promote(model: str, stage: str, wait: bool, rule_wait: float, force: bool) -> None:
    """Make realtime.shadow's challenger live (deployment workflow: canary and rollback apply)."""
    import boto3

    try:
        team = load_team(MODELS_DIR / f"{model}.yaml")
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    block = policy_block(team)
    if block:
        click.echo("candidate policy: make it live through the pipeline by replacing decision_rules in "
                   f"models/{model}.yaml with\n{block}")
    env = team.environments.get(stage)
    session = boto3.session.Session(region_name=env.region if env else None)
    account = env.account if env else session.client("sts").get_caller_identity()["Account"]
    machine = f"arn:aws:states:{session.region_name}:{account}:stateMachine:{state_machine_name(model, 'deployment')}"
    sfn = session.client("stepfunctions")
    try:
        arn = shadow_package_arn(team, session.region_name, account)
        started = promote_shadow(team=team, sagemaker=session.client("sagemaker"), ssm=session.client("ssm"),
                                 stepfunctions=sfn, machine=machine, package_arn=arn, rule_wait=rule_wait,
                                 force=force)
    except PromoteError as exc:
        click.echo(f"{'' if block else 'error: '}{exc}", err=not block)
        sys.exit(0 if block and team.realtime.shadow and team.realtime.shadow.model_version is None else 1)
    click.echo(f"promoting {started['package']} (started by {started['started_by']})\n"
               f"execution {started['execution_arn']}")
    if wait:
        from mdlc.harness.execution import follow_execution

        result = follow_execution(sfn, started["execution_arn"], timeout=4 * 3600)
        click.echo(f"deployment {result.status}" + (f": {result.error}: {result.cause}" if result.error else ""))
        if result.succeeded:
            click.echo(f"now live; replace or remove realtime.shadow in models/{model}.yaml")
        sys.exit(0 if result.succeeded else 1)
