"""cdk-nag acknowledgments, kept next to the code they excuse.

cdk-nag 3 reports through CDK's policy-validation plugins; an acknowledgment is recorded
on the construct it applies to, with a reason specific to that construct.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (e.g. ``AwsSolutions-IAM5[Action::s3:GetObject*]``)."""
    if len(reason) < 20:
        raise ValueError(f"acknowledgment of {rule} needs a specific reason, got {reason!r}")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def nag_name(scope: IConstruct, value: str) -> str:
    """How cdk-nag spells a resource in a granular finding: literals as they are,
    ``Ref``/``GetAtt`` as ``<Id>``/``<Id.Attr>``, joins joined, other intrinsics as JSON."""
    return _nag_text(cdk.Stack.of(scope).resolve(value))


def _nag_text(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and "Fn::Join" in node:
        sep, parts = node["Fn::Join"]
        return sep.join(_nag_text(p) for p in parts)
    if isinstance(node, dict) and "Ref" in node:
        return f"<{node['Ref']}>"
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        return "<{}.{}>".format(*node["Fn::GetAtt"])
    return json.dumps(node, separators=(",", ":"))


def acknowledge_resource(scope: IConstruct, resource: str, reason: str, suffix: str = "") -> None:
    """Acknowledge the granular IAM5 finding on ``resource`` + ``suffix`` (e.g. ``/*``)."""
    acknowledge(scope, f"AwsSolutions-IAM5[Resource::{nag_name(scope, resource)}{suffix}]", reason)


def skip_checkov(scope: IConstruct, check: str, reason: str) -> None:
    """Record why checkov's ``check`` (e.g. ``CKV_AWS_116``) does not apply to this resource.

    checkov reads ``Metadata.checkov.skip`` of each template resource; ``scope`` is the
    resource itself or an L2 construct whose default child is.
    """
    if len(reason) < 20:
        raise ValueError(f"skip of {check} needs a specific reason, got {reason!r}")
    resource = scope if isinstance(scope, cdk.CfnResource) else scope.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{scope.node.path}: no CloudFormation resource to record the skip of {check} on")
    meta = resource.get_metadata("checkov") or {}
    skips = [s for s in meta.get("skip", []) if s["id"] != check]
    resource.add_metadata("checkov", {**meta, "skip": [*skips, {"id": check, "comment": reason}]})
