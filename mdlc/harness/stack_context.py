"""What a template's resource builders work with: the deployment context of one stack
(`StackContext`), what a builder returns (`Created`), and the part of the offline AWS they
deploy into (`DeployTarget`, which `OfflineAws` satisfies).

Below `cfn.py` (which orders and deploys templates) and the builders (`cfn_resources.py`,
`iam_resources.py`, `service_principals.py`, `apigateway.py`), so none of them imports another
to know these types.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mdlc.harness.intrinsics import Resolver, TemplateError, imports, references
from mdlc.harness.quotas import COUNTED_TYPES

if TYPE_CHECKING:
    from mdlc.harness.ddb_streams import StreamDelivery
    from mdlc.harness.iam import IamEvaluator
    from mdlc.harness.lambdas import LambdaRouter
    from mdlc.harness.quotas import AccountQuotas, QuotaLedger
    from mdlc.harness.sqs_delivery import QueueDelivery
    from mdlc.harness.streams import KinesisDelivery

_SKIPPED_TYPES = {"AWS::CDK::Metadata"}


class DeployTarget(Protocol):
    """What deploying a template needs of the offline AWS (`OfflineAws`): its account, clients,
    quotas, IAM evaluator and the routers that deliver to the real handlers."""

    region: str
    account_id: str
    quotas: AccountQuotas
    quota_ledger: QuotaLedger
    iam: IamEvaluator | None
    lambdas: LambdaRouter
    streams: StreamDelivery
    queues: QueueDelivery
    kinesis: KinesisDelivery

    def client(self, service: str) -> Any: ...

    def execution_role_arn(self) -> str: ...


@dataclass
class Created:
    """A created resource: its `Ref` value and its `Fn::GetAtt` attributes."""

    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)


def physical_name(stack: str, logical_id: str, *, limit: int = 64, lower: bool = False) -> str:
    """A CloudFormation-style generated name: `<stack>-<logical>-<suffix>` (deterministic)."""
    suffix = hashlib.sha1(f"{stack}/{logical_id}".encode()).hexdigest()[:12].upper()
    head = f"{stack}-{logical_id}"[: limit - len(suffix) - 1]
    name = f"{head}-{suffix}"
    if lower:
        name = re.sub(r"[^a-z0-9.-]", "-", name.lower())
    return name


@dataclass
class DeployedResource:
    """One template resource as deployed: its `Ref` value and attributes."""

    stack: str
    logical_id: str
    type: str
    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)
    created: bool = True

    @property
    def arn(self) -> str:
        """The resource's ARN (the `Arn` attribute, or `Ref` when Ref is the ARN)."""
        return self.attributes.get("Arn") or self.ref


@dataclass
class DeployedResources:
    """Logical IDs → deployed resources, per stack, plus outputs and exports."""

    stacks: dict[str, dict[str, DeployedResource]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)

    def resource(self, logical_id: str, stack: str | None = None) -> DeployedResource:
        """The resource with `logical_id` (in `stack`, or the only stack that has it)."""
        matches = [resources[logical_id] for name, resources in self.stacks.items()
                   if logical_id in resources and stack in (None, name)]
        if len(matches) != 1:
            raise KeyError(f"{logical_id!r}: {len(matches)} matches in stacks {list(self.stacks)}")
        return matches[0]

    def __getitem__(self, logical_id: str) -> str:
        return self.resource(logical_id).ref

    def find(self, resource_type: str, contains: str = "") -> DeployedResource:
        """The one resource of `resource_type` whose logical ID contains `contains`.

        CDK logical IDs end in a hash (`TrainingStateMachineA1B2C3D4`), so tests find
        resources by type and a readable part of the ID.
        """
        matches = [resource for resources in self.stacks.values() for resource in resources.values()
                   if resource.type == resource_type and contains in resource.logical_id]
        if len(matches) != 1:
            names = [resource.logical_id for resource in matches]
            raise KeyError(f"{resource_type} containing {contains!r}: expected one, found {names}")
        return matches[0]

    def of_type(self, resource_type: str) -> list[DeployedResource]:
        """Every deployed resource of `resource_type`."""
        return [resource for resources in self.stacks.values() for resource in resources.values()
                if resource.type == resource_type]


class StackContext:
    """Deploys one template: dependency order, intrinsic resolution, resource creation."""

    def __init__(self, harness: DeployTarget, stack_name: str, template: dict,
                 deployed: DeployedResources, repo_root: Path, assets_dir: Path | None,
                 parameters: dict[str, Any], creator_for: Callable[[str], Creator | None]) -> None:
        self.harness = harness
        self._creator_for = creator_for
        self.stack_name = stack_name
        self.template = template
        self.deployed = deployed
        self.repo_root = repo_root
        self.assets_dir = assets_dir
        self.region = harness.region
        self.account_id = harness.account_id
        self.resources: dict[str, DeployedResource] = deployed.stacks.setdefault(stack_name, {})
        self.resolver = Resolver(
            pseudo=self._pseudo_parameters(), ref=self._ref, get_att=self._get_att,
            import_value=self._import_value, conditions=template.get("Conditions"),
            mappings=template.get("Mappings"),
        )
        self._parameters = self._parameter_values(parameters)

    def client(self, service: str) -> Any:
        """A boto3 client against moto."""
        return self.harness.client(service)

    def metadata(self, logical_id: str) -> dict:
        """The resource's Metadata block."""
        return self.template["Resources"][logical_id].get("Metadata") or {}

    def _pseudo_parameters(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/harness",
            "AWS::NotificationARNs": [],
        }

    def _parameter_values(self, overrides: dict[str, Any]) -> dict[str, Any]:
        values = {}
        for name, spec in (self.template.get("Parameters") or {}).items():
            if name in overrides:
                values[name] = overrides[name]
            elif "Default" in spec:
                values[name] = spec["Default"]
            else:
                raise TemplateError(f"{self.stack_name}: parameter {name} has no Default; pass a value")
        return values

    def _ref(self, name: str) -> Any:
        if name in self._parameters:
            return self._parameters[name]
        return self._deployed(name).ref

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self._deployed(logical_id)
        if attribute in resource.attributes:
            return resource.attributes[attribute]
        if resource.created:
            raise TemplateError(f"{self.stack_name}: Fn::GetAtt {logical_id}.{attribute} "
                                f"is not an attribute the harness knows for {resource.type}")
        return f"arn:aws:harness:{self.region}:{self.account_id}:{logical_id}/{attribute}"

    def _deployed(self, logical_id: str) -> DeployedResource:
        if logical_id not in self.resources:
            raise TemplateError(f"{self.stack_name}: reference to {logical_id!r}, which is not "
                                "a resource or parameter of this template (or not created yet)")
        return self.resources[logical_id]

    def _import_value(self, name: str) -> Any:
        if name not in self.deployed.exports:
            raise TemplateError(f"{self.stack_name}: Fn::ImportValue {name!r} is not exported by "
                                "any template deployed before it")
        return self.deployed.exports[name]

    def pending_imports(self) -> list[str]:
        """Export names this template imports that are not available yet."""
        names = []
        for argument in imports(self.template.get("Resources", {})) + imports(self.template.get("Outputs", {})):
            name = self.resolver.resolve(argument)
            if name not in self.deployed.exports:
                names.append(name)
        return names

    def deploy(self) -> None:
        """Create every resource, then resolve outputs and exports."""
        for logical_id in self._order():
            self._create(logical_id, self.template["Resources"][logical_id])
        self._outputs()

    def _order(self) -> list[str]:
        resources = self.template.get("Resources", {})
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(logical_id: str) -> None:
            if logical_id in ordered:
                return
            if logical_id in visiting:
                raise TemplateError(f"{self.stack_name}: circular dependency through {logical_id}")
            visiting.add(logical_id)
            body = resources[logical_id]
            depends = body.get("DependsOn") or []
            for dependency in sorted(references(body.get("Properties", {}))
                                     | set([depends] if isinstance(depends, str) else depends)):
                if dependency in resources:
                    visit(dependency)
            visiting.discard(logical_id)
            ordered.append(logical_id)

        for logical_id in resources:
            visit(logical_id)
        return ordered

    def _create(self, logical_id: str, body: dict) -> None:
        kind = body["Type"]
        if kind in _SKIPPED_TYPES or ("Condition" in body and not self.resolver.condition(body["Condition"])):
            return
        creator = self._creator_for(kind)
        if kind in COUNTED_TYPES:  # the account's quotas (quotas.py), created by the harness or not
            self.harness.quota_ledger.admit(self.stack_name, logical_id, kind,
                                            self.resolver.resolve(body.get("Properties") or {}))
        if creator is None:
            created, real = Created(f"{self.stack_name}-{logical_id}"), False
        else:
            properties = self.resolver.resolve(body.get("Properties") or {})
            created, real = creator(self, logical_id, properties), True
            _register_tags(self, created, properties)
        self.resources[logical_id] = DeployedResource(
            stack=self.stack_name, logical_id=logical_id, type=kind, ref=created.ref,
            attributes=created.attributes, created=real,
        )

    def _outputs(self) -> None:
        outputs = self.deployed.outputs.setdefault(self.stack_name, {})
        for name, output in (self.template.get("Outputs") or {}).items():
            if "Condition" in output and not self.resolver.condition(output["Condition"]):
                continue
            value = self.resolver.resolve(output["Value"])
            outputs[name] = value
            if "Export" in output:
                self.deployed.exports[self.resolver.resolve(output["Export"]["Name"])] = value


def _register_tags(ctx: StackContext, created: Created, properties: dict) -> None:
    """A resource's tags, for conditions on ``aws:ResourceTag/…`` (a permissions boundary's
    tagged-resources statement): the IAM evaluator reads them by the resource's ARN."""
    tags = properties.get("Tags")
    arn = created.attributes.get("Arn") or (created.ref if str(created.ref).startswith("arn:") else None)
    if ctx.harness.iam is None or not arn or not isinstance(tags, list):
        return
    ctx.harness.iam.resource_tags[str(arn)] = {str(t["Key"]): str(t["Value"]) for t in tags
                                               if isinstance(t, dict) and "Key" in t and "Value" in t}


#: A resource builder: (context, logical ID, resolved properties) → what was created.
Creator = Callable[[StackContext, str, dict], Created]
