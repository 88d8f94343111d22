"""The harness' IAM evaluation (mdlc/harness/iam.py): principals act with their own role,
a missing grant fails the call where AWS would, with AWS's error name. Harness tests."""

from __future__ import annotations

import copy
import json

import pytest
from botocore.exceptions import ClientError
from moto.iam.access_control import PermissionResult

from mdlc.harness.iam import Call, Denied, Statement, UnsupportedCondition, condition_holds

from .support import aws  # noqa: F401 - pytest fixture
from .test_cfn import DATA_STACK, WORKFLOW_STACK

POLICY = "GreetRoleDefaultPolicy0A1B2C3D"


def _without(action: str) -> dict:
    stack = copy.deepcopy(WORKFLOW_STACK)
    document = stack["Resources"][POLICY]["Properties"]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if s["Action"] != action]
    return stack


def _deploy(aws, tmp_path, workflow):  # noqa: F811
    asset = tmp_path / "asset.feedbeef"
    asset.mkdir(exist_ok=True)
    (asset / "team.json").write_text('{"name": "fraud"}')
    return aws.deploy(workflow, DATA_STACK, stack_names=["Workflow", "Data"], assets_dir=tmp_path)


def test_state_machine_without_invoke_grant_fails_at_the_lambda_task_with_access_denied(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path, _without("lambda:InvokeFunction"))

    result = aws.run(deployed.find("AWS::StepFunctions::StateMachine", "Training").ref, {"name": "ann"})

    assert result.status == "FAILED" and result.error == "Lambda.AccessDeniedException", result.error
    assert "lambda:InvokeFunction" in result.cause and "GreetRole" in result.cause
    assert "Notify" not in result.state_names
    assert aws.lambdas.invocations == []  # the handler never ran


def test_state_machine_without_publish_grant_fails_at_the_sns_task(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path, _without("sns:Publish"))

    result = aws.run(deployed.find("AWS::StepFunctions::StateMachine", "Training").ref, {"name": "ann"})

    assert result.status == "FAILED" and "AuthorizationError" in result.error, (result.error, result.cause)
    assert result.state_names[-1] == "Notify" and "sns:Publish" in result.cause


def test_handler_runs_with_its_role_and_a_missing_object_grant_is_access_denied(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path, _without("s3:PutObject"))

    result = aws.run(deployed.find("AWS::StepFunctions::StateMachine", "Training").ref, {"name": "ann"})

    assert result.status == "FAILED" and result.error == "AccessDenied"  # the handler's ClientError
    denied = aws.iam.denied()
    assert [(d.action, d.principal.rsplit("/", 1)[-1].startswith("Workflow-GreetRole")) for d in denied] == [
        ("s3:PutObject", True)]


def test_bucket_policy_deny_refuses_even_what_the_role_allows(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path, WORKFLOW_STACK)
    bucket = deployed["ArtifactsBucket5E3E1F2A"]
    aws.iam.add_resource_policy(f"arn:aws:s3:::{bucket}", {"Statement": [
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/greeting.txt"}]})

    result = aws.run(deployed.find("AWS::StepFunctions::StateMachine", "Training").ref, {"name": "ann"})

    assert result.status == "FAILED" and result.error == "AccessDenied"
    assert "explicit deny in the resource policy" in aws.iam.denied()[0].reason


def test_ssl_only_bucket_policy_allows_https_requests(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path, WORKFLOW_STACK)
    bucket = deployed["ArtifactsBucket5E3E1F2A"]
    aws.iam.add_resource_policy(f"arn:aws:s3:::{bucket}", {"Statement": [
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}},
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]})

    result = aws.run(deployed.find("AWS::StepFunctions::StateMachine", "Training").ref, {"name": "ann"})

    assert result.succeeded, result.cause


def test_pass_role_is_checked_against_the_role_passed(aws):  # noqa: F811
    iam = aws.admin_client("iam")
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                       "Principal": {"Service": "states.amazonaws.com"}}]})
    caller = iam.create_role(RoleName="caller", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    passed = iam.create_role(RoleName="sagemaker-exec", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="caller", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:CreateModel", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": passed,
         "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}]}))
    model = f"arn:aws:sagemaker:{aws.region}:{aws.account_id}:model/m"
    call = Call("sagemaker:CreateModel", [model], {"ExecutionRoleArn": passed}, aws.region, aws.account_id)

    aws.iam.check(caller, call, caller)  # allowed: PassRole on that role, to SageMaker

    call.params["ExecutionRoleArn"] = caller
    with pytest.raises(Denied) as refused:
        aws.iam.check(caller, call, caller)
    assert refused.value.action == "iam:PassRole" and refused.value.resource == caller


def test_autoscaling_registration_needs_what_application_auto_scaling_checks_on_the_caller(aws):  # noqa: F811
    iam = aws.admin_client("iam")
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                       "Principal": {"Service": "states.amazonaws.com"}}]})
    role = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="deployer", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "application-autoscaling:RegisterScalableTarget", "Resource": "*"},
        {"Effect": "Allow", "Action": "sagemaker:DescribeEndpoint", "Resource": "*"}]}))
    target = f"arn:aws:application-autoscaling:{aws.region}:{aws.account_id}:scalable-target/0123abcd"
    call = Call("application-autoscaling:RegisterScalableTarget", [target],
                {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/e/variant/AllTraffic"},
                aws.region, aws.account_id)

    with pytest.raises(Denied) as refused:
        aws.iam.check(role, call, role)

    assert refused.value.action == "sagemaker:DescribeEndpointConfig"


@pytest.mark.parametrize(("conditions", "context", "holds"), [
    ({"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
     {"iam:passedtoservice": "sagemaker.amazonaws.com"}, True),
    ({"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}, {}, False),  # absent key
    ({"StringLike": {"s3:prefix": ["runs/*"]}}, {"s3:prefix": "runs/r1/part"}, True),
    ({"StringLike": {"s3:prefix": ["runs/*"]}}, {"s3:prefix": "raw/"}, False),
    ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": "true"}, False),
    ({"StringEqualsIfExists": {"s3:prefix": "x"}}, {}, True),
    ({"StringNotEquals": {"events:source": "mdlc.a"}}, {"events:source": "mdlc.b"}, True),
])
def test_conditions_follow_iam_semantics(conditions, context, holds):
    assert condition_holds(conditions, context) is holds


# -- IAM's semantics where moto's and fnmatch's differ (harness emulation tests) -----------
def _allows(statement: dict, action: str, resource: str, context: dict | None = None) -> bool:
    return Statement({"Effect": "Allow", **statement}).decide(action, resource, context or {}) == \
        PermissionResult.PERMITTED


BUCKET_ARN = "arn:aws:s3:::team.data"


@pytest.mark.parametrize(("pattern", "resource", "matches"), [
    (f"{BUCKET_ARN}/*", f"{BUCKET_ARN}/k", True),
    (f"{BUCKET_ARN}/*", "arn:aws:s3:::teamxdata/k", False),  # `.` is itself (moto: any character)
    ("arn:aws:sqs:eu-west-1:123456789012:q?", "arn:aws:sqs:eu-west-1:123456789012:q1", True),
    ("arn:aws:sqs:eu-west-1:123456789012:q?", "arn:aws:sqs:eu-west-1:123456789012:q12", False),  # one character
    ("arn:aws:sqs:eu-west-1:123456789012:q?", "arn:aws:sqs:eu-west-1:123456789012:q", False),
    (f"{BUCKET_ARN}/[ab]", f"{BUCKET_ARN}/a", False),  # `[` is itself (fnmatch: a character class)
    (f"{BUCKET_ARN}/[ab]", f"{BUCKET_ARN}/[ab]", True),
    (f"{BUCKET_ARN}/Key", f"{BUCKET_ARN}/key", False),  # ARNs are case-sensitive
    ("arn:aws:ssm:*:123456789012:parameter/a", "arn:aws:ssm:eu-west-1:123456789012:parameter/a", True),
    ("arn:aws:ssm:*:123456789012:parameter/a", "arn:aws:ssm:eu-west-1:999999999999:parameter/a", False),
])
def test_resource_wildcards_follow_iam(pattern, resource, matches):
    """Harness emulation: `*` any run, `?` one character, everything else literal."""
    assert _allows({"Action": "s3:GetObject", "Resource": pattern}, "s3:GetObject", resource) is matches


def test_actions_match_case_insensitively_with_wildcards():
    """Harness emulation: IAM compares actions without case."""
    assert _allows({"Action": "S3:getobject", "Resource": "*"}, "s3:GetObject", "*")
    assert _allows({"Action": "s3:Get?bject", "Resource": "*"}, "s3:GetObject", "*")
    assert not _allows({"Action": "s3:Get.bject", "Resource": "*"}, "s3:GetObject", "*")


def _role(aws, name: str, *statements: dict) -> str:  # noqa: F811
    iam = aws.admin_client("iam")
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                       "Principal": {"Service": "states.amazonaws.com"}}]})
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    return arn


def test_a_star_only_action_scoped_to_an_arn_is_refused_naming_the_action(aws):  # noqa: F811
    """Harness emulation (Done-when): DescribeScalableTargets takes no resource type, so AWS
    authorises it only on "*"; a grant scoped to scalable targets must fail offline."""
    targets = f"arn:aws:application-autoscaling:{aws.region}:{aws.account_id}:scalable-target/*"
    role = _role(aws, "scoped", {"Effect": "Allow", "Action": "application-autoscaling:DescribeScalableTargets",
                                 "Resource": targets})
    client = aws.iam.client("application-autoscaling", role)

    with pytest.raises(ClientError) as refused:
        client.describe_scalable_targets(ServiceNamespace="sagemaker")

    message = refused.value.response["Error"]["Message"]
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "application-autoscaling:DescribeScalableTargets" in message and 'only on "*"' in message


def test_a_star_only_action_granted_on_star_is_allowed(aws):  # noqa: F811
    """Harness emulation: the same call with Resource "*" passes."""
    role = _role(aws, "star", {"Effect": "Allow", "Action": "application-autoscaling:DescribeScalableTargets",
                               "Resource": "*"})

    answer = aws.iam.client("application-autoscaling", role).describe_scalable_targets(ServiceNamespace="sagemaker")

    assert answer["ScalableTargets"] == []
    assert [(d.resource, d.allowed) for d in aws.iam.decisions
            if d.principal == role and d.action == "application-autoscaling:DescribeScalableTargets"] == [("*", True)]


def test_an_action_whose_arn_the_harness_cannot_derive_is_refused_not_allowed(aws):  # noqa: F811
    """Harness emulation: an action that takes a resource type is never evaluated without
    its ARN, even where the role allows it on every resource."""
    role = _role(aws, "any", {"Effect": "Allow", "Action": "sagemaker:DescribeEndpoint", "Resource": "*"})

    with pytest.raises(Denied) as refused:
        aws.iam.check(role, Call("sagemaker:DescribeEndpoint", ["*"], {}, aws.region, aws.account_id), role)

    assert "cannot derive the ARN" in refused.value.reason and "sagemaker:DescribeEndpoint" in refused.value.reason


def test_an_unknown_condition_operator_denies_and_names_the_operator(aws):  # noqa: F811
    """Harness emulation: an operator IAM does not define never allows (IAM refuses it in
    identity policies at PutRolePolicy, as moto does; resource policies reach the evaluator)."""
    topic = f"arn:aws:sns:{aws.region}:{aws.account_id}:t"
    role = _role(aws, "odd", {"Effect": "Allow", "Action": "sns:ListTopics", "Resource": "*"})
    aws.iam.add_resource_policy(topic, {"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": role}, "Action": "sns:Publish", "Resource": topic,
         "Condition": {"StringFancy": {"aws:SecureTransport": "true"}}}]})

    with pytest.raises(Denied) as refused:
        aws.iam.check(role, Call("sns:Publish", [topic], {}, aws.region, aws.account_id), role)

    assert "StringFancy" in refused.value.reason


def test_an_allow_whose_condition_fails_is_neutral_not_a_deny(aws):  # noqa: F811
    """Harness emulation: another statement's allow still grants; alone, nothing allows."""
    topic = f"arn:aws:sns:{aws.region}:{aws.account_id}:t"
    failing = {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic,
               "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}
    plain = {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}
    both, alone = _role(aws, "both", failing, plain), _role(aws, "alone", failing)
    call = Call("sns:Publish", [topic], {}, aws.region, aws.account_id)

    aws.iam.check(both, call, both)
    with pytest.raises(Denied) as refused:
        aws.iam.check(alone, call, alone)
    assert refused.value.reason == "no identity-based policy allows the action"


def test_a_deny_whose_condition_fails_does_not_deny(aws):  # noqa: F811
    """Harness emulation: CDK's enforce-SSL deny does not apply to an HTTPS request."""
    topic = f"arn:aws:sns:{aws.region}:{aws.account_id}:t"
    role = _role(aws, "ssl", {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic},
                 {"Effect": "Deny", "Action": "sns:*", "Resource": "*",
                  "Condition": {"Bool": {"aws:SecureTransport": "false"}}})

    aws.iam.check(role, Call("sns:Publish", [topic], {}, aws.region, aws.account_id,
                             context={"aws:securetransport": "true"}), role)

    assert [(d.resource, d.allowed) for d in aws.iam.decisions
            if d.principal == role and d.action == "sns:Publish"] == [(topic, True)]


@pytest.mark.parametrize(("conditions", "context", "holds"), [
    ({"StringLike": {"s3:prefix": "run?/*"}}, {"s3:prefix": "run1/a"}, True),
    ({"StringLike": {"s3:prefix": "run.*"}}, {"s3:prefix": "runx/a"}, False),  # `.` literal
    ({"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:*:123456789012:alarm:*"}},
     {"aws:sourcearn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a"}, True),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:*:123456789012:alarm:*"}},
     {"aws:sourcearn": "arn:aws:cloudwatch:eu-west-1:999999999999:alarm:a"}, False),
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}, True),
    ({"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}, False),
    ({"DateLessThan": {"aws:CurrentTime": "2100-01-01T00:00:00Z"}}, {"aws:currenttime": "2026-12-06T20:00:00Z"}, True),
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "10.1.2.3"}, True),
    ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "10.1.2.3"}, False),
    ({"Null": {"aws:SourceArn": "true"}}, {}, True),
    ({"Null": {"aws:SourceArn": "false"}}, {}, False),
    ({"Bool": {"kms:GrantIsForAWSResource": "true"}}, {"kms:grantisforawsresource": "true"}, True),
    ({"Bool": {"kms:GrantIsForAWSResource": "true"}}, {}, False),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:tagkeys": ["a"]}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:tagkeys": ["a", "c"]}, False),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {}, True),  # absent: holds
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:tagkeys": ["c", "a"]}, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {}, False),  # absent: fails
    ({"StringNotEquals": {"aws:SourceAccount": "1"}}, {}, True),  # absent: a negated operator holds
    ({"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {}, True),
])
def test_condition_operators_follow_iam(conditions, context, holds):
    """Harness emulation: the operators IAM defines, as IAM evaluates them."""
    assert condition_holds(conditions, context) is holds


def test_every_condition_operator_of_the_templates_is_evaluated(assembly):
    """Harness emulation: no statement of any synthesised template uses an operator the
    evaluator would refuse (it would deny where AWS may allow)."""
    operators, refused = set(), []
    for template in assembly.templates.values():
        for resource in template.get("Resources", {}).values():
            for conditions in _conditions(resource.get("Properties", {})):
                operators |= set(conditions)
                try:
                    condition_holds(conditions, {})
                except UnsupportedCondition as error:
                    refused.append(str(error))

    assert refused == []
    assert {"StringEquals", "Bool"} <= operators  # the walk found the templates' conditions


def _conditions(value) -> list:
    if isinstance(value, dict):
        found = [value["Condition"]] if isinstance(value.get("Condition"), dict) and "Effect" in value else []
        return found + [c for v in value.values() for c in _conditions(v)]
    if isinstance(value, list):
        return [c for v in value for c in _conditions(v)]
    return []


def test_a_dynamodb_call_is_evaluated_on_its_tables_arn(aws):  # noqa: F811
    """Harness emulation: a grant on another table does not allow the call (the harness used
    to miss the table ARN of moto's DynamoDB requests and evaluate the action alone)."""
    ddb = aws.client("dynamodb")
    for table in ("mine", "other"):
        ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    other = f"arn:aws:dynamodb:{aws.region}:{aws.account_id}:table/other"
    client = aws.iam.client("dynamodb", _role(aws, "reader", {"Effect": "Allow", "Action": "dynamodb:GetItem",
                                                              "Resource": other}))

    client.get_item(TableName="other", Key={"k": {"S": "a"}})
    with pytest.raises(ClientError) as refused:
        client.get_item(TableName="mine", Key={"k": {"S": "a"}})

    assert "dynamodb:GetItem on resource: arn:aws:dynamodb:" in refused.value.response["Error"]["Message"]
