"""Create one resolved CloudFormation resource in moto; one function per resource type.

Each creator receives the deployment context, the logical ID and the resolved
properties and returns a `Created` (what `Ref` gives, and the `Fn::GetAtt` attributes).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from mdlc.harness import iam_resources, service_principals
from mdlc.harness.intrinsics import TemplateError
from mdlc.harness.lambdas import LambdaRoute, function_name_of, placeholder_zip
from mdlc.harness.stack_context import Created, Creator, StackContext, physical_name

SOURCE_METADATA = "mdlc:source"


def _arn(ctx: StackContext, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{ctx.region}:{ctx.account_id}:{resource}"


def create_bucket(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::S3::Bucket (Ref = name)."""
    name = props.get("BucketName") or physical_name(ctx.stack_name, logical_id, limit=63, lower=True)
    s3 = ctx.client("s3")
    kwargs: dict[str, Any] = {"Bucket": name}
    if ctx.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    s3.create_bucket(**kwargs)
    if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    iam_resources.register_bucket(ctx, name, props)
    return Created(name, {
        "Arn": f"arn:aws:s3:::{name}",
        "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
    })


def create_table(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::DynamoDB::Table with keys, indexes, billing mode, stream and TTL."""
    name = props.get("TableName") or physical_name(ctx.stack_name, logical_id, limit=255)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    throughput = props.get("ProvisionedThroughput")
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = throughput or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
        if props.get(key):
            kwargs[key] = props[key]
    if "StreamSpecification" in kwargs:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **kwargs["StreamSpecification"]}
    dynamodb = ctx.client("dynamodb")
    table = dynamodb.create_table(**kwargs)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return Created(name, {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn", "")})


def create_topic(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::SNS::Topic (Ref = ARN)."""
    name = props.get("TopicName") or physical_name(ctx.stack_name, logical_id, limit=256)
    attributes = {"FifoTopic": "true"} if props.get("FifoTopic") else {}
    arn = ctx.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
    iam_resources.register_topic(ctx, arn, props)
    return Created(arn, {"TopicArn": arn, "TopicName": name})


def create_subscription(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::SNS::Subscription (Ref = subscription ARN), confirmed: an email subscriber is taken
    to have clicked the confirmation link (moto delivers nothing to email; alarms.py records it)."""
    attributes = {key: props[key] if isinstance(props[key], str) else json.dumps(props[key])
                  for key in ("FilterPolicy", "RawMessageDelivery") if key in props}
    if "RawMessageDelivery" in attributes:
        attributes["RawMessageDelivery"] = str(props["RawMessageDelivery"]).lower()
    arn = ctx.client("sns").subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"],
                                      Endpoint=props["Endpoint"], Attributes=attributes)["SubscriptionArn"]
    return Created(arn)


#: Queue properties that are SQS attributes of the same name (moto keeps and honours them:
#: the visibility timeout, the redrive to a dead-letter queue, the key).
_QUEUE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                     "VisibilityTimeout", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
                     "FifoQueue", "ContentBasedDeduplication")


def create_queue(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::SQS::Queue (Ref = URL) with its attributes: the visibility timeout and the redrive
    policy decide what an event source mapping redelivers (``sqs_delivery``), the key who may
    send and receive (``iam_resources.register_queue``)."""
    name = props.get("QueueName") or physical_name(ctx.stack_name, logical_id, limit=80)
    attributes = {key: str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
                  for key in _QUEUE_ATTRIBUTES if key in props}
    if props.get("RedrivePolicy"):
        redrive = props["RedrivePolicy"]
        attributes["RedrivePolicy"] = redrive if isinstance(redrive, str) else json.dumps(redrive)
    url = ctx.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = _arn(ctx, "sqs", name)
    iam_resources.register_queue(ctx, arn, props)
    return Created(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def create_model_package_group(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::SageMaker::ModelPackageGroup (Ref = ARN)."""
    name = props.get("ModelPackageGroupName") or physical_name(ctx.stack_name, logical_id, limit=63)
    kwargs = {"ModelPackageGroupName": name}
    if props.get("ModelPackageGroupDescription"):
        kwargs["ModelPackageGroupDescription"] = props["ModelPackageGroupDescription"]
    arn = ctx.client("sagemaker").create_model_package_group(**kwargs)["ModelPackageGroupArn"]
    return Created(arn, {"ModelPackageGroupArn": arn, "ModelPackageGroupName": name,
                         "ModelPackageGroupStatus": "Completed"})


def create_event_bus(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::Events::EventBus (Ref = name)."""
    arn = ctx.client("events").create_event_bus(Name=props["Name"])["EventBusArn"]
    return Created(props["Name"], {"Arn": arn, "Name": props["Name"]})


def create_role(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::IAM::Role (Ref = name) with its inline and managed policies and its permissions
    boundary (which must exist, as IAM requires, and is evaluated on every call of the role)."""
    name = props.get("RoleName") or physical_name(ctx.stack_name, logical_id, limit=64)
    boundary = {"PermissionsBoundary": props["PermissionsBoundary"]} if props.get("PermissionsBoundary") else {}
    if boundary:
        iam_resources.check_boundary_exists(ctx, logical_id, boundary["PermissionsBoundary"])
    role = ctx.client("iam").create_role(
        RoleName=name, Path=props.get("Path", "/"),
        AssumeRolePolicyDocument=json.dumps(props.get("AssumeRolePolicyDocument", {})), **boundary,
    )["Role"]
    iam_resources.attach_role_policies(ctx, name, props)
    return Created(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


def create_key(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::KMS::Key (Ref = key id)."""
    key = ctx.client("kms").create_key(Description=props.get("Description", logical_id))["KeyMetadata"]
    iam_resources.register_key(ctx, key["Arn"], props)
    return Created(key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})


def create_log_group(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::Logs::LogGroup (Ref = name)."""
    name = props.get("LogGroupName") or physical_name(ctx.stack_name, logical_id, limit=512)
    service_principals.check_log_group_key(ctx, name, props)  # CloudWatch Logs must be able to use the key
    ctx.client("logs").create_log_group(logGroupName=name)
    return Created(name, {"Arn": _arn(ctx, "logs", f"log-group:{name}:*")})


_ALARM_KEYS = ("AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions", "MetricName",
               "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
               "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator",
               "TreatMissingData", "Metrics")


def create_alarm(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::CloudWatch::Alarm (Ref = name), starting in state OK."""
    name = props.get("AlarmName") or physical_name(ctx.stack_name, logical_id, limit=255)
    kwargs = {key: props[key] for key in _ALARM_KEYS if key in props}
    if "Threshold" in kwargs:
        kwargs["Threshold"] = float(kwargs["Threshold"])
    ctx.client("cloudwatch").put_metric_alarm(AlarmName=name, **kwargs)
    return Created(name, {"Arn": _arn(ctx, "cloudwatch", f"alarm:{name}")})


def create_function(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::Lambda::Function, routed to the real handler when it has mdlc:source metadata."""
    name = props.get("FunctionName") or physical_name(ctx.stack_name, logical_id, limit=64)
    environment = {key: str(value) for key, value in
                   ((props.get("Environment") or {}).get("Variables") or {}).items()}
    handler = props.get("Handler", "index.handler")
    arn = ctx.client("lambda").create_function(
        FunctionName=name, Runtime=props.get("Runtime", "python3.12"),
        Role=props.get("Role") or ctx.harness.execution_role_arn(), Handler=handler,
        Code={"ZipFile": placeholder_zip()}, Timeout=int(props.get("Timeout", 3)),
        MemorySize=int(props.get("MemorySize", 128)), Environment={"Variables": environment},
    )["FunctionArn"]
    if props.get("ReservedConcurrentExecutions") is not None:
        _reserve_concurrency(ctx, logical_id, name, int(props["ReservedConcurrentExecutions"]))
    source = ctx.metadata(logical_id).get(SOURCE_METADATA)
    if source:
        ctx.harness.lambdas.register(LambdaRoute(
            function_name=name, arn=arn, environment=environment,
            source_dir=ctx.repo_root / source, handler_spec=handler,
            memory_mb=int(props.get("MemorySize", 128)), timeout_seconds=int(props.get("Timeout", 3)),
        ))
    return Created(name, {"Arn": arn})


def create_version(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::Lambda::Version: PublishVersion (Ref = the version's ARN, GetAtt Version = its number)."""
    published = ctx.client("lambda").publish_version(FunctionName=props["FunctionName"])
    return Created(published["FunctionArn"], {"Version": published["Version"]})


def create_alias(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::Lambda::Alias: CreateAlias (Ref = the alias ARN); invokes of the alias run the
    function's routed handler. Provisioned concurrency is recorded as the alias' property only:
    offline every invocation is warm (the handler module is imported once)."""
    alias = ctx.client("lambda").create_alias(FunctionName=props["FunctionName"], Name=props["Name"],
                                              FunctionVersion=str(props["FunctionVersion"]))
    return Created(alias["AliasArn"], {})


def _reserve_concurrency(ctx: StackContext, logical_id: str, name: str, reserved: int) -> None:
    """What CloudFormation does for ReservedConcurrentExecutions: PutFunctionConcurrency, whose
    refusal (the account's quota, quotas.py) fails the resource and so the deploy."""
    from botocore.exceptions import ClientError

    from mdlc.harness.quotas import QuotaExceeded

    try:
        ctx.client("lambda").put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    except ClientError as exc:
        error = exc.response["Error"]
        raise QuotaExceeded(f"{ctx.stack_name}/{logical_id} (AWS::Lambda::Function) CREATE_FAILED: Resource handler "
                            f"returned message: \"{error['Message']}\" (Service: Lambda, Status Code: 400) "
                            f"[{error['Code']}; harness account profile '{ctx.harness.quotas.name}']") from None


def create_stream(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::Kinesis::Stream (Ref = name); encryption is not emulated."""
    name = props.get("Name") or physical_name(ctx.stack_name, logical_id, limit=128)
    kwargs: dict[str, Any] = {"StreamName": name}
    mode = (props.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
    kwargs["StreamModeDetails"] = {"StreamMode": mode}
    if mode == "PROVISIONED":
        kwargs["ShardCount"] = int(props.get("ShardCount", 1))
    kinesis = ctx.client("kinesis")
    kinesis.create_stream(**kwargs)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return Created(name, {"Arn": arn})


def create_event_source_mapping(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::Lambda::EventSourceMapping: a Kinesis stream is delivered by `mdlc.harness.streams`
    (explicitly, `OfflineAws.deliver_kinesis`), a DynamoDB stream by `mdlc.harness.ddb_streams`
    and an SQS queue by `mdlc.harness.sqs_delivery` (after every execution); no other source is
    delivered offline."""
    from mdlc.harness.ddb_streams import StreamMapping, is_stream_source
    from mdlc.harness.event_filters import FilterCriteria
    from mdlc.harness.sqs_delivery import QueueMapping, is_queue_source
    from mdlc.harness.streams import Mapping

    source = str(props.get("EventSourceArn", ""))
    if ":kinesis:" in source:
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        mapping = ctx.harness.kinesis.add(Mapping(
            function_name=function_name_of(str(props["FunctionName"])),
            stream_arn=source, batch_size=int(props.get("BatchSize", 100)),
            bisect=bool(props.get("BisectBatchOnFunctionError", False)),
            report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            retry_attempts=int(props.get("MaximumRetryAttempts", -1)), on_failure_arn=on_failure,
            starting_position=props.get("StartingPosition", "TRIM_HORIZON"),
            filters=FilterCriteria.from_properties(props),
        ))
        return Created(mapping.uuid, {"Id": mapping.uuid})
    uuid = physical_name(ctx.stack_name, logical_id, limit=64)
    if is_stream_source(source):
        ctx.harness.streams.add(StreamMapping.from_properties(uuid, props))
    elif is_queue_source(source):
        function = function_name_of(str(props["FunctionName"]))
        ctx.harness.queues.add(QueueMapping.from_properties(uuid, {**props, "FunctionName": function}))
    return Created(uuid, {"Id": uuid})


def create_state_machine(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::StepFunctions::StateMachine with the synthesised definition (references resolved)."""
    name = props.get("StateMachineName") or physical_name(ctx.stack_name, logical_id, limit=80)
    definition = props.get("DefinitionString")
    if definition is None:
        definition = json.dumps(props["Definition"])
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    arn = ctx.client("stepfunctions").create_state_machine(
        name=name, definition=definition, type=props.get("StateMachineType", "STANDARD"),
        roleArn=props.get("RoleArn") or ctx.harness.execution_role_arn(),
    )["stateMachineArn"]
    iam_resources.register_state_machine(ctx, arn, props)
    return Created(arn, {"Arn": arn, "Name": name, "StateMachineName": name, "Definition": definition})


def create_bucket_deployment(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """Custom::CDKBucketDeployment: copy the asset folders/zips from cdk.out to the bucket."""
    if ctx.assets_dir is None:
        return Created(f"{logical_id}-not-deployed", {})
    s3 = ctx.client("s3")
    bucket, prefix = props["DestinationBucketName"], props.get("DestinationBucketKeyPrefix", "")
    for key in props.get("SourceObjectKeys") or []:
        for name, body in _asset_files(ctx.assets_dir, key, props.get("Extract", True)):
            s3.put_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{name}".lstrip("/"), Body=body)
    return Created(f"{logical_id}-{bucket}", {"DestinationBucketArn": f"arn:aws:s3:::{bucket}"})


def _asset_files(assets_dir: Path, key: str, extract: Any) -> list[tuple[str, bytes]]:
    asset_hash = key.rsplit(".", 1)[0]
    folder, archive = assets_dir / f"asset.{asset_hash}", assets_dir / f"asset.{asset_hash}.zip"
    if str(extract).lower() in ("false", "0"):
        return [(key, _zip_bytes(folder, archive))]
    if folder.is_dir():
        return [(path.relative_to(folder).as_posix(), path.read_bytes())
                for path in sorted(folder.rglob("*")) if path.is_file()]
    if archive.is_file():
        with zipfile.ZipFile(archive) as zipped:
            return [(name, zipped.read(name)) for name in zipped.namelist() if not name.endswith("/")]
    raise TemplateError(f"asset {key} not found in {assets_dir} (expected asset.{asset_hash}[.zip])")


def _zip_bytes(folder: Path, archive: Path) -> bytes:
    if archive.is_file():
        return archive.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


CREATORS: dict[str, Creator] = {
    "AWS::S3::Bucket": create_bucket,
    "AWS::DynamoDB::Table": create_table,
    "AWS::SNS::Topic": create_topic,
    "AWS::SNS::Subscription": create_subscription,
    "AWS::SQS::Queue": create_queue,
    "AWS::SageMaker::ModelPackageGroup": create_model_package_group,
    "AWS::Events::EventBus": create_event_bus,
    "AWS::IAM::Role": create_role,
    "AWS::KMS::Key": create_key,
    "AWS::Logs::LogGroup": create_log_group,
    "AWS::CloudWatch::Alarm": create_alarm,
    "AWS::Lambda::Function": create_function,
    "AWS::Lambda::Version": create_version,
    "AWS::Lambda::Alias": create_alias,
    "AWS::Lambda::EventSourceMapping": create_event_source_mapping,
    "AWS::StepFunctions::StateMachine": create_state_machine,
    "AWS::Kinesis::Stream": create_stream,
    "Custom::CDKBucketDeployment": create_bucket_deployment,
    # permission-carrying resources (iam_resources.py)
    "AWS::IAM::Policy": iam_resources.create_policy,
    "AWS::IAM::ManagedPolicy": iam_resources.create_managed_policy,
    "AWS::S3::BucketPolicy": iam_resources.create_bucket_policy,
    "AWS::SNS::TopicPolicy": iam_resources.create_topic_policy,
    "AWS::SQS::QueuePolicy": iam_resources.create_queue_policy,
}
