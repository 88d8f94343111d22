"""cdk-nag acknowledgments, kept next to the code they excuse.

cdk-nag 3 reports through CDK's policy-validation plugins; an acknowledgment is recorded
on the construct it applies to, with a reason specific to that construct.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (e.g. ``AwsSolutions-IAM5[Action::s3:GetObject*]``)."""
    if len(reason) < 20:
        raise ValueError(f"acknowledgment of {rule} needs a specific reason, got {reason!r}")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def nag_name(scope: IConstruct, value: str) -> str:
    """How cdk-nag spells a resource in a granular finding: ``<LogicalId.Arn>`` or a literal."""
    resolved = cdk.Stack.of(scope).resolve(value)
    if isinstance(resolved, str):
        return resolved
    if isinstance(resolved, dict) and "Fn::GetAtt" in resolved:
        logical_id, attr = resolved["Fn::GetAtt"]
        return f"<{logical_id}.{attr}>"
    if isinstance(resolved, dict) and "Ref" in resolved:
        return f"<{resolved['Ref']}>"
    raise ValueError(f"cannot name {value!r} for cdk-nag (resolved to {resolved!r})")


def acknowledge_resource(scope: IConstruct, resource: str, reason: str, suffix: str = "") -> None:
    """Acknowledge the granular IAM5 finding on ``resource`` + ``suffix`` (e.g. ``/*``)."""
    acknowledge(scope, f"AwsSolutions-IAM5[Resource::{nag_name(scope, resource)}{suffix}]", reason)
