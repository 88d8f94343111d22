"""deploy_template: CDK-style templates → moto resources, definitions run as synthesised."""

from __future__ import annotations

import json

import pytest

from mdlc.harness import TemplateError
from mdlc.harness.intrinsics import NO_VALUE, Resolver

from .support import aws  # noqa: F401 - pytest fixture

ASSET_BUCKET = {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"}

DATA_STACK = {
    "Parameters": {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>",
                                        "Default": "/cdk-bootstrap/hnb659fds/version"}},
    "Conditions": {"CDKMetadataAvailable": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}},
    "Resources": {
        "Key1A2B3C4D": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*",
             "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}}},
        "ArtifactsBucket5E3E1F2A": {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["Key1A2B3C4D", "Arn"]}}}]},
            "VersioningConfiguration": {"Status": "Enabled"}}},
        "ArtifactsBucketPolicy9A8B7C6D": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "ArtifactsBucket5E3E1F2A"}, "PolicyDocument": {"Statement": []}}},
        "FeatureTable0F1E2D3C": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "KeySchema": [{"AttributeName": "entity", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "entity", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST"}},
        "CDKMetadata": {"Type": "AWS::CDK::Metadata", "Condition": "CDKMetadataAvailable",
                        "Properties": {"Analytics": "v2:deflate64:xyz"}},
    },
    "Outputs": {
        "ExportsOutputRefArtifactsBucket": {"Value": {"Ref": "ArtifactsBucket5E3E1F2A"},
                                            "Export": {"Name": "Data:ExportsOutputRefArtifactsBucket"}},
        "KeyArn": {"Value": {"Fn::GetAtt": ["Key1A2B3C4D", "Arn"]}, "Export": {"Name": "Data:KeyArn"}},
        "ExportsOutputFnGetAttFeatureTableArn": {
            "Value": {"Fn::GetAtt": ["FeatureTable0F1E2D3C", "Arn"]},
            "Export": {"Name": {"Fn::Join": [":", [{"Ref": "AWS::StackName"}, "TableArn"]]}}},
    },
}

WORKFLOW_STACK = {
    "Resources": {
        "GreetRoleABCDEF12": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
                                                        "Principal": {"Service": "lambda.amazonaws.com"}}]}}},
        "GreetFunction12345678": {
            "Type": "AWS::Lambda::Function",
            "Metadata": {"mdlc:source": "tests/fixtures/harness/lambdas/greet"},
            "Properties": {
                "Code": {"S3Bucket": ASSET_BUCKET, "S3Key": "0123abcd.zip"},
                "Handler": "handler.handler", "Runtime": "python3.12",
                "Role": {"Fn::GetAtt": ["GreetRoleABCDEF12", "Arn"]},
                "Environment": {"Variables": {
                    "OUTPUT_BUCKET": {"Fn::ImportValue": "Data:ExportsOutputRefArtifactsBucket"},
                    "GREETING": {"Fn::Select": [1, {"Fn::Split": ["/", "x/hey/z"]}]}}}}},
        "GreetRoleDefaultPolicy0A1B2C3D": {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "GreetRoleDefaultPolicy0A1B2C3D", "Roles": [{"Ref": "GreetRoleABCDEF12"}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "lambda:InvokeFunction",
                 "Resource": {"Fn::GetAtt": ["GreetFunction12345678", "Arn"]}},
                {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "AlertsTopicAAAA1111"}},
                {"Effect": "Allow", "Action": "kms:GenerateDataKey",
                 "Resource": {"Fn::ImportValue": "Data:KeyArn"}},
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": {"Fn::Join": ["", [
                    "arn:aws:s3:::", {"Fn::ImportValue": "Data:ExportsOutputRefArtifactsBucket"}, "/*"]]}},
            ]}}},
        "AlertsTopicAAAA1111": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "ModelGroupBBBB2222": {"Type": "AWS::SageMaker::ModelPackageGroup",
                               "Properties": {"ModelPackageGroupName": "fraud-models"}},
        "BusCCCC3333": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "mdlc-bus"}},
        "RollbackAlarmDDDD4444": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "MetricName": "Invocation5XXErrors", "Namespace": "AWS/SageMaker", "Statistic": "Sum",
            "Period": 60, "EvaluationPeriods": 1, "Threshold": 1,
            "ComparisonOperator": "GreaterThanThreshold"}},
        "TrainingStateMachineEEEE5555": {
            "Type": "AWS::StepFunctions::StateMachine",
            "DependsOn": ["GreetRoleABCDEF12"],
            "Properties": {
                "RoleArn": {"Fn::GetAtt": ["GreetRoleABCDEF12", "Arn"]},
                "DefinitionString": {"Fn::Join": ["", [
                    '{"StartAt":"Greet","States":{"Greet":{"Type":"Task","Resource":"arn:',
                    {"Ref": "AWS::Partition"},
                    ':states:::lambda:invoke","Parameters":{"FunctionName":"',
                    {"Fn::GetAtt": ["GreetFunction12345678", "Arn"]},
                    '","Payload.$":"$"},"OutputPath":"$.Payload","Next":"Notify"},'
                    '"Notify":{"Type":"Task","Resource":"arn:aws:states:::sns:publish",'
                    '"Parameters":{"TopicArn":"', {"Ref": "AlertsTopicAAAA1111"},
                    '","Message.$":"$.greeting"},"ResultPath":null,"End":true}}}']]}}},
        "DeployCodeFFFF6666": {"Type": "Custom::CDKBucketDeployment", "Properties": {
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:x",
            "SourceBucketNames": [ASSET_BUCKET], "SourceObjectKeys": ["feedbeef.zip"],
            "DestinationBucketName": {"Fn::ImportValue": "Data:ExportsOutputRefArtifactsBucket"},
            "DestinationBucketKeyPrefix": "config"}},
    },
    "Outputs": {"TableArn": {"Value": {"Fn::ImportValue": "Data:TableArn"}}},
}


def _deploy(aws, tmp_path):  # noqa: F811
    asset = tmp_path / "asset.feedbeef"
    asset.mkdir()
    (asset / "team.json").write_text('{"name": "fraud"}')
    # The workflow stack is listed first: imports decide the order.
    return aws.deploy(WORKFLOW_STACK, DATA_STACK, stack_names=["Workflow", "Data"],
                      assets_dir=tmp_path)


def test_templates_deploy_and_the_synthesised_definition_runs(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path)
    machine = deployed.find("AWS::StepFunctions::StateMachine", "Training")
    bucket = deployed.resource("ArtifactsBucket5E3E1F2A").ref
    function_arn = deployed.resource("GreetFunction12345678").arn

    result = aws.run(machine.ref, {"name": "ann"})

    assert result.succeeded, result.cause
    assert result.output == {"greeting": "HEY ANN", "function": deployed["GreetFunction12345678"]}
    assert aws.client("s3").get_object(Bucket=bucket, Key="greeting.txt")["Body"].read() == b"HEY ANN"
    definition = aws.client("stepfunctions").describe_state_machine(stateMachineArn=machine.ref)["definition"]
    assert definition == machine.attributes["Definition"]
    assert json.loads(definition)["States"]["Greet"]["Parameters"]["FunctionName"] == function_arn


def test_resources_exist_in_moto_with_their_settings(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path)
    bucket = deployed["ArtifactsBucket5E3E1F2A"]

    table = aws.client("dynamodb").describe_table(TableName=deployed["FeatureTable0F1E2D3C"])["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "entity", "KeyType": "HASH"}]
    assert aws.client("s3").get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert deployed.outputs["Workflow"]["TableArn"] == table["TableArn"]
    assert aws.client("sagemaker").describe_model_package_group(
        ModelPackageGroupName="fraud-models")["ModelPackageGroupArn"] == deployed["ModelGroupBBBB2222"]
    assert aws.client("events").describe_event_bus(Name="mdlc-bus")["Arn"] == (
        deployed.resource("BusCCCC3333").arn)
    alarm = deployed["RollbackAlarmDDDD4444"]
    assert aws.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert aws.client("s3").get_object(Bucket=bucket, Key="config/team.json")["Body"].read() == (
        b'{"name": "fraud"}')
    # Bucket policies are evaluated by the harness (moto's S3 would misapply them).
    assert f"arn:aws:s3:::{bucket}" in aws.iam.resource_policies
    assert "CDKMetadata" not in deployed.stacks["Data"]  # condition false outside us-east-1


def test_missing_export_is_reported(aws):  # noqa: F811
    with pytest.raises(TemplateError, match="Data:ExportsOutputRefArtifactsBucket"):
        aws.deploy(WORKFLOW_STACK)


def test_sub_and_conditions_resolve():
    resolver = Resolver(
        pseudo={"AWS::Region": "eu-west-1", "AWS::AccountId": "1"},
        ref=lambda name: f"ref-{name}", get_att=lambda name, attr: f"{name}.{attr}!",
        import_value=lambda name: f"import-{name}",
        conditions={"IsProd": {"Fn::Equals": ["prod", "dev"]}},
    )

    assert resolver.resolve({"Fn::Sub": "a-${AWS::Region}-${Bucket}-${Fn.Arn}-${!Literal}"}) == (
        "a-eu-west-1-ref-Bucket-Fn.Arn!-${Literal}")
    assert resolver.resolve({"Fn::Sub": ["${X}/${AWS::AccountId}", {"X": {"Ref": "Y"}}]}) == "ref-Y/1"
    assert resolver.resolve({"Fn::If": ["IsProd", "big", {"Ref": "AWS::NoValue"}]}) is NO_VALUE
    assert resolver.resolve({"k": {"Fn::If": ["IsProd", "big", {"Ref": "AWS::NoValue"}]}}) == {}
