"""cdk-nag acknowledgments, kept next to the code they excuse.

cdk-nag 3 reports through CDK's policy-validation plugins; an acknowledgment is recorded
on the construct it applies to, with a reason specific to that construct.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from constructs import IConstruct


@dataclass
class _Batch:
    """What ``batched()`` records on exit, per construct."""

    acks: dict[IConstruct, dict[str, str]] = field(default_factory=dict)  # rule → reason
    resource_acks: dict[IConstruct, list[tuple[str, str, str]]] = field(default_factory=dict)
    skips: dict[cdk.CfnResource, dict[str, str]] = field(default_factory=dict)  # check → reason

    def apply(self) -> None:
        for scope, pending in self.resource_acks.items():
            names = cdk.Stack.of(scope).resolve([resource for resource, _, _ in pending])
            for name, (_, suffix, reason) in zip(names, pending, strict=True):
                rule = f"AwsSolutions-IAM5[Resource::{_nag_text(name)}{suffix}]"
                self.acks.setdefault(scope, {})[rule] = reason
        for scope, rules in self.acks.items():
            cdk.Validations.of(scope).acknowledge(
                *(cdk.Acknowledgment(id=rule, reason=reason) for rule, reason in rules.items()))
        for resource, checks in self.skips.items():
            meta = resource.get_metadata("checkov") or {}
            skips = [s for s in meta.get("skip", []) if s["id"] not in checks]
            added = [{"id": check, "comment": reason} for check, reason in checks.items()]
            resource.add_metadata("checkov", {**meta, "skip": [*skips, *added]})


_batches: list[_Batch] = []


@contextmanager
def batched() -> Iterator[None]:
    """Record the acknowledgments and checkov skips made inside on exit, a call or two per
    construct. Each call crosses to CDK's Node.js process: the app acknowledges 780
    findings on 170 constructs, and batching takes about 1 s off a synth."""
    _batches.append(_Batch())
    try:
        yield
    finally:
        batch = _batches.pop()
    batch.apply()


@contextmanager
def _recording() -> Iterator[_Batch]:
    """The open batch; outside ``batched()``, a batch of one recorded at once."""
    if _batches:
        yield _batches[-1]
    else:
        with batched():
            yield _batches[-1]


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (e.g. ``AwsSolutions-IAM5[Action::s3:GetObject*]``)."""
    _check_reason(rule, reason)
    with _recording() as batch:
        batch.acks.setdefault(scope, {})[rule] = reason


def _check_reason(rule: str, reason: str) -> None:
    if len(reason) < 20:
        raise ValueError(f"acknowledgment of {rule} needs a specific reason, got {reason!r}")


def _nag_text(node: Any) -> str:
    """How cdk-nag spells a resolved resource in a granular finding: literals as they are,
    ``Ref``/``GetAtt`` as ``<Id>``/``<Id.Attr>``, joins joined, other intrinsics as JSON."""
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
    _check_reason(f"AwsSolutions-IAM5 on {resource}", reason)
    with _recording() as batch:
        batch.resource_acks.setdefault(scope, []).append((resource, suffix, reason))


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
    with _recording() as batch:
        batch.skips.setdefault(resource, {})[check] = reason
