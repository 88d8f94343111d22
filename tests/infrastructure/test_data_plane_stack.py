"""CDK assertions on the example team's data plane: encryption, access, retention.
(Every team in models/: test_every_team.py.)"""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from mdlc import names
from mdlc.bootstrap import qualifier

STACK = "fraud-detection-data"


@pytest.fixture(scope="module")
def template(assembly) -> Template:
    return Template.from_json(assembly.template(STACK))


def resources(assembly, cfn_type: str) -> dict:
    return {k: v for k, v in assembly.template(STACK)["Resources"].items() if v["Type"] == cfn_type}


def test_customer_managed_key_rotates_and_is_retained(template):
    template.has_resource("AWS::KMS::Key", {
        "Properties": {"EnableKeyRotation": True},
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
    })


def test_every_data_bucket_is_kms_encrypted_versioned_private_logged_and_retained(assembly):
    buckets = resources(assembly, "AWS::S3::Bucket")
    data_buckets = {k: v for k, v in buckets.items() if "AccessLogs" not in k}
    assert len(data_buckets) == 5  # raw, features, artifacts, capture, reports
    for name, bucket in data_buckets.items():
        props = bucket["Properties"]
        sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", name
        assert "KMSMasterKeyID" in sse["ServerSideEncryptionByDefault"], name
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
        }, name
        assert props["LoggingConfiguration"]["DestinationBucketName"], name
        assert props["LifecycleConfiguration"]["Rules"], name
        assert bucket["DeletionPolicy"] == "Retain", name


def test_raw_and_capture_data_expire_after_the_team_retention(assembly):
    rules = {
        r["Id"]: r
        for b in resources(assembly, "AWS::S3::Bucket").values()
        for r in b["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    }
    assert rules["raw-expiry"]["ExpirationInDays"] == 730
    assert rules["cap-expiry"]["ExpirationInDays"] == 90


def test_every_bucket_denies_plain_http(assembly):
    policies = resources(assembly, "AWS::S3::BucketPolicy")
    assert len(policies) == 6
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )


def test_online_feature_table_is_encrypted_recoverable_on_demand_and_retained(template):
    template.has_resource("AWS::DynamoDB::Table", {
        "Properties": {
            "KeySchema": [{"AttributeName": "customer_id", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
        },
        "DeletionPolicy": "Retain",
    })


def test_alerts_topic_is_encrypted_and_mails_the_on_call_address(template):
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "email", "Endpoint": "fraud-ml-oncall@example.com",
    })


def test_model_package_group_is_named_after_the_team(template):
    template.has_resource_properties("AWS::SageMaker::ModelPackageGroup", {
        "ModelPackageGroupName": "fraud-detection--models",
    })


def test_sagemaker_role_reaches_only_this_teams_buckets_and_key(assembly):
    policies = resources(assembly, "AWS::IAM::Policy")
    role_policy = next(p for k, p in policies.items() if "SageMakerExecutionRole" in k)
    own = set(resources(assembly, "AWS::S3::Bucket")) | set(resources(assembly, "AWS::KMS::Key"))
    own |= {names.bucket_name("fraud-detection", abbr, "111111111111", "eu-west-1") for abbr in names.BUCKETS}
    for statement in role_policy["Properties"]["PolicyDocument"]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.startswith(("s3:", "kms:")) for a in actions):
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for target in targets:
                text = str(target)
                if f"cdk-{qualifier('fraud-detection')}-assets-" in text:
                    # The job code and team spec assets (the team's own bootstrap bucket):
                    # read only, and only these objects, never the whole bucket.
                    assert actions in (["s3:GetObject"], ["s3:ListBucket"]), actions
                    assert "/*" not in text, f"{actions} on {target}: every team's code"
                    if actions == ["s3:ListBucket"]:
                        assert statement["Condition"]["StringEquals"]["s3:prefix"], statement
                    continue
                assert any(logical in text for logical in own), f"{actions} on {target}"


def test_no_iam_statement_allows_every_action(assembly):
    for stack, template in assembly.templates.items():
        for name, res in template["Resources"].items():
            docs = []
            if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                docs.append(res["Properties"]["PolicyDocument"])
            if res["Type"] == "AWS::IAM::Role":
                docs += [p["PolicyDocument"] for p in res["Properties"].get("Policies", [])]
            for doc in docs:
                for s in doc["Statement"]:
                    actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
                    assert "*" not in actions and not any(a.endswith(":*") for a in actions), (stack, name, s)
