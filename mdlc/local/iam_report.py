"""Least-privilege report of an offline run: per principal (each synthesised role), the
calls it made and the granted actions it never used, each unused grant explained or flagged.

The calls are the harness' IAM decisions (`mdlc.harness.iam`): every request a Lambda
handler, a state machine (Task calls, `.sync` polling, item readers), a SageMaker job or
endpoint made with its role's credentials. Grants are the Allow statements of the role's
identity policies as deployed.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Granted actions a run cannot exercise offline, and why each is still needed on AWS.
# Anything unused and not listed here is reported as UNEXPLAINED (a candidate for removal).
EXPLAINED: dict[str, str] = {
    "xray:PutTraceSegments": "active tracing: the Lambda runtime/Step Functions send traces (not an API call here)",
    "xray:PutTelemetryRecords": "active tracing: the Lambda runtime/Step Functions send telemetry",
    "xray:GetSamplingRules": "Step Functions X-Ray tracing reads sampling rules (service side)",
    "xray:GetSamplingTargets": "Step Functions X-Ray tracing reads sampling targets (service side)",
    "logs:CreateLogDelivery": "Step Functions log delivery to the workflow's log group (set up on deploy)",
    "logs:DeleteLogDelivery": "Step Functions log delivery (set up on deploy)",
    "logs:DescribeLogGroups": "Step Functions log delivery (set up on deploy)",
    "logs:DescribeResourcePolicies": "Step Functions log delivery (set up on deploy)",
    "logs:GetLogDelivery": "Step Functions log delivery (set up on deploy)",
    "logs:ListLogDeliveries": "Step Functions log delivery (set up on deploy)",
    "logs:PutResourcePolicy": "Step Functions log delivery (set up on deploy)",
    "logs:UpdateLogDelivery": "Step Functions log delivery (set up on deploy)",
    "logs:CreateLogGroup": "SageMaker jobs write their container logs to /aws/sagemaker/* (service side)",
    "logs:CreateLogStream": "SageMaker jobs write their container logs (service side)",
    "logs:DescribeLogStreams": "SageMaker jobs write their container logs (service side)",
    "logs:PutLogEvents": "SageMaker jobs write their container logs (service side)",
    "ecr:BatchCheckLayerAvailability": "SageMaker pulls the job/serving image (service side)",
    "ecr:BatchGetImage": "SageMaker pulls the job/serving image (service side)",
    "ecr:GetAuthorizationToken": "SageMaker pulls the job/serving image (service side)",
    "ecr:GetDownloadUrlForLayer": "SageMaker pulls the job/serving image (service side)",
    "cloudwatch:PutMetricData": "SageMaker jobs publish their metrics under /aws/sagemaker/* (service side)",
    "events:PutRule": "a .sync SageMaker task: Step Functions creates its managed event rule",
    "events:PutTargets": "a .sync SageMaker task: Step Functions creates its managed event rule",
    "events:DescribeRule": "a .sync SageMaker task: Step Functions reads its managed event rule",
    "sagemaker:StopProcessingJob": "a .sync task stops its job when the execution is stopped or times out",
    "sagemaker:StopTrainingJob": "a .sync task stops its job when the execution is stopped or times out",
    "sagemaker:StopTransformJob": "a .sync task stops its job when the execution is stopped or times out",
    "sagemaker:StopHyperParameterTuningJob": "a .sync task stops its job when the execution is stopped or times out",
    "sagemaker:ListTrainingJobsForHyperParameterTuningJob": ("in Step Functions' documented policy for a .sync "
                                                             "tuning task (the registration Lambda lists the trials)"),
    "states:StopExecution": "a Distributed Map stops its child executions when it fails",
    "states:DescribeExecution": "a Distributed Map follows its child executions",
    "states:StartExecution": "a Distributed Map starts child executions (the harness runs them in-process)",
    "sagemaker:AddTags": "Create* calls with Tags need AddTags on AWS (the harness checks the Create* call)",
    "kms:CreateGrant": "SageMaker creates grants on the team key for the endpoint's volume and capture",
    "kms:DescribeKey": "SageMaker and S3 describe the team key when a job or endpoint uses it",
    "kms:Encrypt": "part of CDK's encrypt grant on the team key (S3/SNS/DynamoDB use GenerateDataKey)",
    "kms:ReEncrypt*": "part of CDK's encrypt grant on the team key (key rotation of stored data keys)",
    "kms:GenerateDataKey*": "S3 SSE-KMS writes and SNS publishes on the team key",
    "kms:Decrypt": "reads of SSE-KMS objects, items of the KMS-encrypted tables, and SNS delivery",
    "iam:CreateServiceLinkedRole": "created once per account by the first autoscaling registration",
    "sagemaker:DescribeEndpointConfig": "checked by Application Auto Scaling on the caller of RegisterScalableTarget",
    "sagemaker:UpdateEndpointWeightsAndCapacities": "checked by Application Auto Scaling on its caller",
    "cloudwatch:DescribeAlarms": ("target tracking: Application Auto Scaling manages its alarms for the caller; "
                                  "deployment guardrails read the rollback alarms as UpdateEndpoint's caller"),
    "cloudwatch:PutMetricAlarm": "target tracking: Application Auto Scaling manages its alarms for the caller",
    "cloudwatch:DeleteAlarms": "target tracking: alarms are deleted with the policy on deregistration",
    "application-autoscaling:DeregisterScalableTarget": "used only when an update replaces a scaled config",
    "application-autoscaling:DescribeScalableTargets": "used only when an endpoint is updated",
    "sagemaker:UpdateEndpoint": "used only when an endpoint already exists (second deployment)",
    "sagemaker:CreateEndpoint": "used only for the first deployment of the team's endpoint",
    **{a: "the Kinesis event source mapping reads the stream with the consumer's role (service side)" for a in (
        "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
        "kinesis:GetShardIterator", "kinesis:ListShards")},
    **{a: "the DynamoDB stream event source mapping reads the stream with the function's role (service side)"
       for a in ("dynamodb:DescribeStream", "dynamodb:ListStreams")},
    **{a: "the event source mapping sends failed batches to the DLQ with the function's role (service side)"
       for a in ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")},
    **{a: "the SQS event source mapping polls the queue with the function's role (service side; the "
          "harness delivers no SQS mapping)" for a in (
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility")},
}
# The project grants through CDK's L2 grant methods (STYLE.md: no hand-written IAM JSON
# where an L2 grant exists); each grants a fixed set, of which a function uses a part.
GRANT_SETS: dict[str, str] = {
    **{a: "S3 grant_put/grant_read_write set (multipart abort, object lock, tagging)" for a in (
        "s3:Abort*", "s3:PutObjectLegalHold", "s3:PutObjectRetention", "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging")},
    "s3:DeleteObject*": "S3 grant_read_write set (deletes and overwrites of versioned objects)",
    "s3:GetBucket*": "S3 grant_read set (bucket location/encryption lookups by SDKs and SageMaker)",
    "s3:List*": "S3 grant_read set (listing a prefix; this function reads known keys only)",
    "s3:GetObject*": "S3 grant_read_write set (this function writes; the read half comes with it)",
    **{a: "DynamoDB grant_read_data/grant_read_write_data set" for a in (
        "dynamodb:ConditionCheckItem", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
        "dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem",
        "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "dynamodb:GetItem",
        "dynamodb:PutItem")},
}


@dataclass
class PrincipalReport:
    """One role: who acts with it, its calls in the run, and its unused grants."""

    role: str
    used_by: list[str]
    calls: Counter = field(default_factory=Counter)  # action → allowed calls
    denied: Counter = field(default_factory=Counter)  # action → refused calls
    unused: dict[str, str | None] = field(default_factory=dict)  # pattern → reason or None

    @property
    def unexplained(self) -> list[str]:
        return [pattern for pattern, reason in self.unused.items() if reason is None]


# Grants a role needs only on paths this run did not take (keyed by a part of the role
# name; physical role names are truncated, e.g. `...RetrainingStartRetrainin-<hash>`).
BY_PATH: dict[tuple[str, str], str] = {
    ("PrepareRun", "sagemaker:DescribeModelPackage"): "describes the champion when an Approved version exists",
    ("PrepareBatch", "sagemaker:DescribeModelPackage"): "describes the Approved version to score with",
    ("PrepareMonitoring", "sagemaker:DescribeModelPackage"): "describes the deployed version's baseline",
    ("PrepareDeployment", "sagemaker:DescribeEndpoint"): "reads the endpoint when one exists",
    ("StartRetrainin", "states:DescribeExecution"): "checks the running training execution it guards",
    ("StartRetrainin", "states:StartExecution"): "starts training when no run is in progress",
    ("StartRetrainin", "states:ListExecutions"): "finds a running training execution",
    ("PublishMetrics", "cloudwatch:PutMetricData"): "publishes the monitoring metrics (namespace-scoped)",
    ("FeaturesStateMachineRole", "sns:Publish"): "alerts the team when the feature backfill fails",
    ("EnsureOnlineFeat", "states:DescribeExecution"): "reads the backfill it started when it checks again",
    ("EnsureOnlineFeat", "states:StartExecution"): "starts the backfill when the table lacks the features",
    ("PublishMetrics", "s3:PutObject"): "moves the window cursor after a scheduled run (a run with `since` does not)",
    ("StartRetrainin", "sns:Publish"): (
        "Lambda delivers a failed asynchronous invocation to the on-failure topic with the function's role"),
    ("StartRetrainin", "kms:GenerateDataKey"): "the on-failure topic is encrypted with the team key",
    ("EventsRole", "states:StartExecution"): "EventBridge starts the workflow when its rule fires",
    # Roles of rules that start an encrypted workflow (names cut to ...StateMachineEv-...):
    ("StateMachineEv", "kms:GenerateDataKey"): (
        "EventBridge's start of a workflow encrypted with the team key (its rule did not fire in this run)"),
    ("DeploymentStateMachineRole", "application-autoscaling:TagResource"): (
        "RegisterScalableTarget tags the target on create (mdlc:team); whether AWS also checks TagResource "
        "then is not documented, so the harness does not require it"),
    ("StateMachineRole", "kms:GenerateDataKey"): (
        "Step Functions encrypts the execution's data with the team key as the workflow's role (service side)"),
    ("StateMachineRole", "sns:Publish"): "alerts and notifications of outcomes this run did not reach",
    ("StateMachineRole", "lambda:InvokeFunction"): "a function of a branch this run did not take",
    ("ApiIntegrationRole", "states:StartSyncExecution"): (
        "API Gateway's integration starts the decision workflow; offline decisions start it as the test driver"),
}


def _explain(role: str, pattern: str) -> str | None:
    for (fragment, action), reason in BY_PATH.items():
        if fragment in role and action == pattern:
            return f"not on this run's path: {reason}"
    if pattern in EXPLAINED:
        return EXPLAINED[pattern]
    if pattern in GRANT_SETS:
        return f"part of CDK's {GRANT_SETS[pattern]}"
    return None


def principal_reports(team: Any) -> list[PrincipalReport]:
    """The report of every role of `team`'s deployed stacks, from the harness' decisions."""
    from mdlc.harness.iam import granted_actions

    evaluator = team.aws.iam
    if evaluator is None:
        raise RuntimeError("IAM evaluation is off in this harness: no calls were recorded")
    users = _users(team)
    reports = []
    for resource in team.resources.of_type("AWS::IAM::Role"):
        arn = resource.attributes["Arn"]
        report = PrincipalReport(role=resource.ref, used_by=users.get(arn, [resource.logical_id]))
        for decision in evaluator.decisions:
            if decision.principal == arn:
                (report.calls if decision.allowed else report.denied)[decision.action] += 1
        documents = evaluator._identity_policies(arn)
        for pattern in granted_actions(documents):
            if not any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for action in report.calls):
                report.unused[pattern] = _explain(resource.ref, pattern)
        reports.append(report)
    return sorted(reports, key=lambda r: r.role)


def _users(team: Any) -> dict[str, list[str]]:
    """Role ARN → what acts with it (functions, state machines, jobs/endpoints, rules)."""
    out: dict[str, list[str]] = {}
    for stack in team.stacks:
        for logical_id, body in team.assembly.template(stack)["Resources"].items():
            props = body.get("Properties") or {}
            role = props.get("Role") or props.get("RoleArn")
            if body["Type"] == "AWS::SageMaker::ModelPackageGroup":
                continue
            if isinstance(role, dict) and "Fn::GetAtt" in role:
                try:
                    arn = team.resources.resource(role["Fn::GetAtt"][0], stack).attributes["Arn"]
                except KeyError:
                    continue
                out.setdefault(arn, []).append(f"{body['Type'].split('::')[-1]} {logical_id}")
            for target in props.get("Targets") or []:
                if isinstance(target.get("RoleArn"), dict) and "Fn::GetAtt" in target["RoleArn"]:
                    arn = team.resources.resource(target["RoleArn"]["Fn::GetAtt"][0], stack).attributes["Arn"]
                    out.setdefault(arn, []).append(f"Rule {logical_id} (target)")
    for resource in team.resources.of_type("AWS::IAM::Role"):
        if "SageMakerExecutionRole" in resource.logical_id:
            out.setdefault(resource.attributes["Arn"], []).append("SageMaker jobs and endpoints (execution role)")
    return out


def format_report(reports: list[PrincipalReport], *, verbose: bool = True) -> str:
    """Plain-text report, one block per principal; `verbose=False` keeps only what needs
    attention (denied calls, unexplained unused grants)."""
    lines = []
    for r in reports:
        if not verbose and not r.denied and not r.unexplained:
            continue
        lines.append(f"{r.role}")
        lines.append(f"  used by: {', '.join(r.used_by)}")
        calls = ", ".join(f"{a} ×{n}" for a, n in sorted(r.calls.items())) or "none in this run"
        lines.append(f"  calls: {calls}")
        if r.denied:
            lines.append("  DENIED: " + ", ".join(f"{a} ×{n}" for a, n in sorted(r.denied.items())))
        for pattern, reason in sorted(r.unused.items()):
            if reason is not None and not verbose:
                continue
            lines.append(f"  unused: {pattern:<45} {reason or 'UNEXPLAINED: remove it or explain it'}")
    total_unexplained = sum(len(r.unexplained) for r in reports)
    total_denied = sum(sum(r.denied.values()) for r in reports)
    lines.append(f"{len(reports)} principals, {sum(sum(r.calls.values()) for r in reports)} calls allowed, "
                 f"{total_denied} denied, {total_unexplained} unexplained unused grants")
    return "\n".join(lines)


def summary_line(reports: list[PrincipalReport]) -> str:
    """One line for the demo summary."""
    used = sum(1 for r in reports if r.calls)
    return (f"IAM: {used}/{len(reports)} roles made {sum(sum(r.calls.values()) for r in reports)} evaluated calls, "
            f"{sum(sum(r.denied.values()) for r in reports)} denied; "
            f"{sum(len(r.unused) for r in reports)} unused grants, "
            f"{sum(len(r.unexplained) for r in reports)} unexplained")
