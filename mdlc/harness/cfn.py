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

from pathlib import Path
from typing import Any

from mdlc.harness.cfn_resources import CREATORS
from mdlc.harness.intrinsics import TemplateError
from mdlc.harness.stack_context import Creator, DeployedResource, DeployedResources, DeployTarget, StackContext

REPO_ROOT = Path(__file__).resolve().parents[2]

__all__ = ["DeployedResource", "DeployedResources", "StackContext", "TemplateError", "deploy_template"]


def deploy_template(
    templates: dict | list[dict],
    *,
    harness: DeployTarget,
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
                     Path(assets_dir) if assets_dir else None, (parameters or {}).get(name, {}), _creator)
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


def _creator(kind: str) -> Creator | None:
    """The creator of a resource type (None: not created, `Ref`/`Fn::GetAtt` give placeholders)."""
    return CREATORS.get(kind) or _apigateway_creators(kind)


def _apigateway_creators(kind: str) -> Creator | None:
    """The API Gateway creators, imported on first use: only a template with a REST API
    needs the VTL engine (``airspeed-ext``) and JSON Schema validator they load."""
    if not kind.startswith("AWS::ApiGateway::"):
        return None
    from mdlc.harness.apigateway import CREATORS as APIGATEWAY_CREATORS

    return APIGATEWAY_CREATORS.get(kind)
