"""Deploy CDK-synthesised CloudFormation templates into moto.

moto's own `create_stack` cannot take CDK templates: Lambda code lives in the CDK
bootstrap asset bucket (which does not exist offline, and moto then fails the whole
stack with an unparseable error), and it would not route functions to their handlers.
So the harness resolves the templates itself (intrinsics.py) and creates the resources
the workflows touch (cfn_resources.py), in dependency order, across several stacks
(`Fn::ImportValue` of another template's `Export`). Other resource types (Lambda
permissions, CDK metadata, custom resources...) are not created; `Ref`/`Fn::GetAtt` on them give
placeholder values so that definitions still resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdlc.harness.cfn_resources import CREATORS, Created
from mdlc.harness.intrinsics import Resolver, TemplateError, imports, references
from mdlc.harness.quotas import COUNTED_TYPES

if TYPE_CHECKING:
    from mdlc.harness.offline import OfflineAws

REPO_ROOT = Path(__file__).resolve().parents[2]
_SKIPPED_TYPES = {"AWS::CDK::Metadata"}

__all__ = ["DeployedResource", "DeployedResources", "TemplateError", "deploy_template"]


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

    def __init__(self, harness: OfflineAws, stack_name: str, template: dict,
                 deployed: DeployedResources, repo_root: Path, assets_dir: Path | None,
                 parameters: dict[str, Any]) -> None:
        self.harness = harness
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
        creator = CREATORS.get(kind) or _apigateway_creators(kind)
        if kind in COUNTED_TYPES:  # the account's quotas (quotas.py), created by the harness or not
            self.harness.quota_ledger.admit(self.stack_name, logical_id, kind,
                                            self.resolver.resolve(body.get("Properties") or {}))
        if creator is None:
            created, real = Created(f"{self.stack_name}-{logical_id}"), False
        else:
            properties = self.resolver.resolve(body.get("Properties") or {})
            created, real = creator(self, logical_id, properties), True
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


def deploy_template(
    templates: dict | list[dict],
    *,
    harness: OfflineAws,
    repo_root: str | Path | None = None,
    stack_names: list[str] | None = None,
    assets_dir: str | Path | None = None,
    parameters: dict[str, dict[str, Any]] | None = None,
) -> DeployedResources:
    """Create in moto the resources of one or more synthesised templates.

    Templates are deployed in an order that satisfies their `Fn::ImportValue`s.
    `stack_names` name the stacks (default `Stack0`, `Stack1`, ...; generated physical
    names derive from them). `repo_root` is where `mdlc:source` Lambda folders are
    found (default: this repository). `assets_dir` (cdk.out) lets
    `Custom::CDKBucketDeployment` copy its assets into the destination bucket.
    `parameters` maps stack name → parameter overrides.
    """
    templates = [templates] if isinstance(templates, dict) else list(templates)
    names = stack_names or [f"Stack{index}" for index in range(len(templates))]
    if len(names) != len(templates):
        raise ValueError(f"{len(templates)} templates but {len(names)} stack names")
    deployed = DeployedResources()
    for name, template in zip(names, templates, strict=True):
        harness.quota_ledger.check_template(name, template)
    pending = [
        StackContext(harness, name, template, deployed, Path(repo_root or REPO_ROOT),
                     Path(assets_dir) if assets_dir else None, (parameters or {}).get(name, {}))
        for name, template in zip(names, templates, strict=True)
    ]
    while pending:
        ready = next((stack for stack in pending if not stack.pending_imports()), None)
        if ready is None:
            missing = {stack.stack_name: stack.pending_imports() for stack in pending}
            raise TemplateError(f"unresolvable Fn::ImportValue (missing exports): {missing}")
        ready.deploy()
        pending.remove(ready)
    return deployed


def _apigateway_creators(kind: str) -> Any:
    """The API Gateway creators, imported on first use: only a template with a REST API
    needs the VTL engine (``airspeed-ext``) and JSON Schema validator they load."""
    if not kind.startswith("AWS::ApiGateway::"):
        return None
    from mdlc.harness.apigateway import CREATORS as APIGATEWAY_CREATORS

    return APIGATEWAY_CREATORS.get(kind)
