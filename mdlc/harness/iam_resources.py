"""Template resources that carry permissions: identity policies go into moto's IAM,
resource policies into the harness' evaluator (`iam.IamEvaluator`).

Bucket and topic policies are not put into moto itself: moto's S3 applies a bucket
policy's Deny to object requests without evaluating its ``aws:SecureTransport``
condition, so CDK's ``enforceSSL`` policy would refuse every request.
"""

from __future__ import annotations

import json
from typing import Any

from mdlc.harness.intrinsics import TemplateError
from mdlc.harness.stack_context import Created, StackContext, physical_name


def _document(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def create_policy(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::IAM::Policy: an inline policy on each of its roles (users/groups: not used)."""
    name = props.get("PolicyName") or physical_name(ctx.stack_name, logical_id, limit=128)
    iam = ctx.client("iam")
    for role in props.get("Roles") or []:
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=_document(props["PolicyDocument"]))
    return Created(name)


def create_managed_policy(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::IAM::ManagedPolicy, attached to its roles."""
    name = props.get("ManagedPolicyName") or physical_name(ctx.stack_name, logical_id, limit=128)
    iam = ctx.client("iam")
    arn = iam.create_policy(PolicyName=name, Path=props.get("Path", "/"),
                            PolicyDocument=_document(props["PolicyDocument"]))["Policy"]["Arn"]
    for role in props.get("Roles") or []:
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    return Created(arn)


def attach_role_policies(ctx: StackContext, role_name: str, props: dict) -> None:
    """A role's inline `Policies` and `ManagedPolicyArns` (AWS managed policies are not in
    moto unless loaded: those are skipped, and so not granted offline)."""
    iam = ctx.client("iam")
    for policy in props.get("Policies") or []:
        iam.put_role_policy(RoleName=role_name, PolicyName=policy["PolicyName"],
                            PolicyDocument=_document(policy["PolicyDocument"]))
    for arn in props.get("ManagedPolicyArns") or []:
        try:
            iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)
        except iam.exceptions.NoSuchEntityException:
            continue


def create_bucket_policy(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::S3::BucketPolicy → evaluated by the harness for requests on the bucket."""
    if ctx.harness.iam is not None:
        ctx.harness.iam.add_resource_policy(f"arn:aws:s3:::{props['Bucket']}", props["PolicyDocument"])
    return Created(f"{ctx.stack_name}-{logical_id}")


def create_topic_policy(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::SNS::TopicPolicy → evaluated by the harness for requests on its topics."""
    if ctx.harness.iam is not None:
        for topic in props.get("Topics") or []:
            ctx.harness.iam.add_resource_policy(topic, props["PolicyDocument"])
    return Created(f"{ctx.stack_name}-{logical_id}")


def create_queue_policy(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::SQS::QueuePolicy → evaluated by the harness for requests on its queues (given as URLs)."""
    if ctx.harness.iam is not None:
        for url in props.get("Queues") or []:
            name = str(url).rstrip("/").rsplit("/", 1)[-1]
            ctx.harness.iam.add_resource_policy(f"arn:aws:sqs:{ctx.region}:{ctx.account_id}:{name}",
                                                props["PolicyDocument"])
    return Created(f"{ctx.stack_name}-{logical_id}")


def check_boundary_exists(ctx: StackContext, logical_id: str, arn: str) -> None:
    """IAM's CreateRole refuses a permissions boundary that is not an existing managed policy (a
    team's ``<team>--boundary`` is made by ``mdlc bootstrap``, outside its stacks)."""
    try:
        ctx.client("iam").get_policy(PolicyArn=arn)
    except Exception as error:  # noqa: BLE001 - NoSuchEntity, as IAM answers
        raise TemplateError(f"{ctx.stack_name}/{logical_id} (AWS::IAM::Role) CREATE_FAILED: Policy {arn} does not "
                            "exist or is not attachable (the permissions boundary must exist before the role: "
                            "`mdlc bootstrap` creates a team's)") from error


def register_bucket(ctx: StackContext, name: str, props: dict) -> None:
    """Remember a bucket's SSE-KMS key: object reads/writes then need the key too."""
    if ctx.harness.iam is None:
        return
    for rule in (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or []:
        default = rule.get("ServerSideEncryptionByDefault") or {}
        if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
            ctx.harness.iam.bucket_keys[name] = default["KMSMasterKeyID"]


def register_topic(ctx: StackContext, arn: str, props: dict) -> None:
    """Remember a topic's KMS key: publishers then need the key too."""
    if ctx.harness.iam is not None and props.get("KmsMasterKeyId"):
        ctx.harness.iam.topic_keys[arn] = props["KmsMasterKeyId"]


def register_queue(ctx: StackContext, arn: str, props: dict) -> None:
    """Remember a queue's customer managed key: senders and receivers then need the key too."""
    if ctx.harness.iam is not None and props.get("KmsMasterKeyId"):
        ctx.harness.iam.queue_keys[arn] = props["KmsMasterKeyId"]


def register_state_machine(ctx: StackContext, arn: str, props: dict) -> None:
    """Remember a state machine's customer managed key: who starts or reads its executions needs it."""
    encryption = props.get("EncryptionConfiguration") or {}
    if ctx.harness.iam is not None and encryption.get("Type") == "CUSTOMER_MANAGED_KMS_KEY":
        ctx.harness.iam.machine_keys[arn] = encryption["KmsKeyId"]


def register_key(ctx: StackContext, arn: str, props: dict) -> None:
    """A KMS key's key policy, evaluated for requests that use the key."""
    if ctx.harness.iam is not None and props.get("KeyPolicy"):
        ctx.harness.iam.add_resource_policy(arn, props["KeyPolicy"])
