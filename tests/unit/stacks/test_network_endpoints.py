"""Which VPC endpoints a team's grants need (product: stacks/common/network.endpoint_services)."""

from __future__ import annotations

import pytest

from stacks.common.network import endpoint_services


def _policy(*actions: str, effect: str = "Allow") -> dict:
    return {"Statement": [{"Effect": effect, "Action": list(actions), "Resource": "*"}]}


def test_each_granted_service_maps_to_its_endpoint_and_names_who_needs_it():
    needs = endpoint_services([
        ("decide", _policy("sagemaker:InvokeEndpoint", "dynamodb:BatchGetItem", "kms:Decrypt")),
        ("deploy", _policy("sagemaker:CreateModel", "states:StartExecution", "iam:PassRole")),
        ("stream", _policy("kinesis:PutRecords", "cloudwatch:PutMetricData", "xray:PutTraceSegments")),
    ])
    assert needs == {
        "dynamodb": ["decide"], "kinesis-streams": ["stream"], "kms": ["decide"], "monitoring": ["stream"],
        "sagemaker.api": ["deploy"], "sagemaker.runtime": ["decide"], "states": ["deploy"], "xray": ["stream"],
    }


def test_a_sagemaker_wildcard_needs_both_endpoints_and_a_deny_needs_none():
    assert set(endpoint_services([("x", _policy("sagemaker:*"))])) == {"sagemaker.api", "sagemaker.runtime"}
    assert endpoint_services([("x", _policy("s3:GetObject", effect="Deny"))]) == {}


def test_a_service_without_a_known_endpoint_stops_the_synth_naming_it():
    with pytest.raises(ValueError, match=r"fn: grants 'glue:GetTable'.*ENDPOINT_SERVICES"):
        endpoint_services([("fn", _policy("glue:GetTable"))])
