"""Teams that share an account cannot reach each other: no Allow of one team's roles names a
resource of another team, whatever the two names (a product test of the templates and of the
run-time names the workflows build).

Teams ``fraud``, ``fraud-detection`` and ``fraud-detection-b`` (copies of the example, names
prefixes of each other) are synthesised together, with their pipelines, for one set of
accounts; in each stage's account (``STAGES``: dev with the pipeline, staging with the smoke
test's role, production) each team is deployed on its own into the offline harness, which
resolves every template value (account, region, partition, generated
names, ARNs) as CloudFormation would. Each team's footprint is then:

- every Allow statement of its roles' identity policies, as deployed (moto's IAM);
- every ARN it owns: those of its deployed resources, the objects, streams, versions and
  executions below them, and the resources its workflows create at run time, named by the
  functions the handlers use (``mdlc/names.py``, ``lambdas/shared/runs.py``).

A statement reaches a resource when one of its Resource patterns matches the ARN with IAM's
wildcards and one of its actions takes that ARN's resource type (AWS's Service Authorization
Reference, through the harness' ``action_types``). Conditions are not credited: they can only
narrow a statement, so a crossing they guard is still listed, except a condition on the
resource's tags where the tags are known (the scalable targets the deployment workflow
registers with ``mdlc:team``), which no request can satisfy for another team's resource.
Resource policies (key, bucket, topic) are not evaluated here, nor ECR
repositories (the teams own none; the SageMaker role pulls only the team's image
repositories), nor the accounts' CDK bootstrap roles and buckets (not deployed offline).

To add a team or a stage (issue 27): extend ``TEAMS`` / ``STAGES``.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
import yaml

from lambdas.shared.runs import run_id_for
from mdlc import names
from mdlc.contract import MODELS_DIR
from mdlc.harness.iam import action_matches, action_types, arn_like, condition_holds
from mdlc.local.team import LocalTeam
from stacks.realtime import names as realtime_names
from stacks.realtime.deployment import CAPTURE_PREFIX, VARIANT
from tests.synth import Assembly, synth

#: Two names are prefixes of the third (``fraud`` of both, ``fraud-detection`` of
#: ``fraud-detection-b``): the case name-scoped IAM got wrong. Three, as a platform team
#: onboarding teams would try it (issue 27).
TEAMS = ("fraud", "fraud-detection", "fraud-detection-b")
#: Every account a team deploys to. ``dev`` is also the pipeline's home (``environments.dev``,
#: no ``tooling``): the pipeline stack, its CodeBuild and CodePipeline roles, shares the
#: account with the dev stacks. ``staging`` holds the smoke test's access role too.
STAGES = ("dev", "staging", "production")
SOURCE = MODELS_DIR / "fraud-detection.yaml"

@dataclass(frozen=True)
class Grant:
    """One Allow statement of one role, as deployed."""

    role: str
    policy: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, str], ...] = ()  # (operator, key, values as JSON)


@dataclass
class Footprint:
    """What one team's roles may do, and every ARN the team owns (ARN → where it comes from)."""

    team: str
    grants: list[Grant] = field(default_factory=list)
    arns: dict[str, str] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # ARN → its tags, where known
    service_statements: list[dict] = field(default_factory=list)  # Allows of its keys' policies to AWS services


# ------------------------------------------------------------------ actions and resource types
@cache
def _service_actions(service: str) -> tuple[str, ...]:
    from policy_sentry.querying.actions import get_actions_for_service

    return tuple(get_actions_for_service(service))


def expand(pattern: str) -> list[str]:
    """The actions an Action entry names (``kms:GenerateDataKey*`` → every match)."""
    service = pattern.partition(":")[0].lower()
    if "*" not in pattern and "?" not in pattern:
        return [pattern]
    return [a for a in _service_actions(service) if action_matches(pattern, a)]


def takes(action: str, arn: str) -> bool:
    """Whether ``action`` acts on resources like ``arn`` (unknown actions: same service)."""
    types = action_types(action)
    if types is None:
        return arn.split(":")[2] == action.partition(":")[0].lower()
    return types.names(arn)


def star_only(action: str) -> bool:
    types = action_types(action)
    return types is not None and types.star_only


# ------------------------------------------------------------------ footprints
def _grants(team: LocalTeam, roles: list[str]) -> Iterator[Grant]:
    iam = team.aws.client("iam")
    for role in roles:
        documents = [(name, iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
                     for name in iam.list_role_policies(RoleName=role)["PolicyNames"]]
        for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
            documents.append((policy["PolicyName"], version["PolicyVersion"]["Document"]))
        for name, document in documents:
            statements = document["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                assert "NotAction" not in statement and "NotResource" not in statement, (role, statement)
                if statement["Effect"] != "Allow":
                    continue
                conditions = tuple((op, key, json.dumps(value)) for op, keys in statement.get("Condition", {}).items()
                                   for key, value in keys.items())
                yield Grant(role, name, _listed(statement["Action"]), _listed(statement["Resource"]), conditions)


def _listed(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _below(arn: str, kind: str) -> list[str]:
    """ARNs that live below a deployed resource (objects, streams, versions, indexes)."""
    service = arn.split(":")[2]
    if service == "s3":
        return [f"{arn}/runs/20260301T000000-abcdef/report.json", f"{arn}/{CAPTURE_PREFIX}/x/AllTraffic/1.jsonl"]
    if service == "logs":
        group = arn.removesuffix(":*")
        return [group, f"{group}:log-stream:2026/03/01/[$LATEST]0123"]
    if service == "lambda":
        return [f"{arn}:1", f"{arn}:$LATEST"]
    if service == "dynamodb":
        return [f"{arn}/stream/2026-03-01T00:00:00.000", f"{arn}/index/by-entity"]
    if kind == "AWS::StepFunctions::StateMachine":
        name = arn.rsplit(":", 1)[1]
        execution = arn.replace(":stateMachine:", ":execution:")
        return [f"{execution}:run-1", f"{execution}/map-run:0123", arn.replace(":stateMachine:", ":express:")
                + ":run-1:0123", arn.replace(":stateMachine:", ":mapRun:") + "/map-run:0123",
                f"{execution.rsplit(':', 1)[0]}:{name}:smoke-test-20260301T000000"]
    if kind == "AWS::CodeBuild::Project":  # a run is a build, logged in the project's group; its reports
        region, account, project = arn.split(":")[3], arn.split(":")[4], arn.rsplit("/", 1)[1]
        return [arn.replace(":project/", ":build/") + ":0123abcd-0123",
                f"arn:aws:logs:{region}:{account}:log-group:/aws/codebuild/{project}:log-stream:0123abcd-0123",
                arn.replace(":project/", ":report-group/") + "-reports"]
    return []


#: Tags the workflows set on what they create, where a statement's condition names them.
RUN_TIME_TAGS = {"scalable-target/": lambda team: {"mdlc:team": team}}


def run_time_arns(team: str, account: str, region: str, realtime: bool) -> dict[str, str]:
    """What the workflows create at run time, named by the product's own functions."""
    run_id = run_id_for("run-1", datetime(2026, 3, 1, tzinfo=UTC))
    sm = f"arn:aws:sagemaker:{region}:{account}"
    logs = f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker"
    out: dict[str, str] = {}
    jobs = {**{f"training {k}": v for k, v in names.training_job_names(team, run_id).items()},
            **{f"batch {k}": v for k, v in names.batch_job_names(team, run_id).items()},
            "monitoring": names.monitoring_job_name(team, run_id)}
    kinds = {"training training": "training-job", "batch transform": "transform-job"}
    for what, job in jobs.items():
        kind = kinds.get(what, "processing-job")
        out[f"{sm}:{kind}/{job}"] = f"run time: {what} job"
        group = {"training-job": "TrainingJobs", "transform-job": "TransformJobs"}.get(kind, "ProcessingJobs")
        out[f"{logs}/{group}:log-stream:{job}/algo-1-1700000000"] = f"run time: log stream of the {what} job"
    out[f"{sm}:model/{names.batch_model_name(team, run_id)}"] = "run time: batch model"
    group = names.model_package_group(team)
    out[f"{sm}:model-package/{group}/1"] = "run time: registered model version"
    if realtime:
        deployment = names.deployment_name(team, 1, "0123abcd")
        endpoint = realtime_names.endpoint_name(team)
        out[f"{sm}:model/{deployment}"] = "run time: deployed model"
        out[f"{sm}:endpoint-config/{deployment}"] = "run time: endpoint config"
        out[f"{sm}:endpoint/{endpoint}"] = "run time: endpoint"
        out[f"{logs}/Endpoints/{endpoint}:log-stream:{VARIANT}/i-0123"] = "run time: endpoint log stream"
        out[f"arn:aws:ssm:{region}:{account}:parameter{realtime_names.deployed_parameter(team)}"] = \
            "run time: deployed-model parameter"
        # Registered by the deployment workflow; the id is Application Auto Scaling's.
        out[f"arn:aws:application-autoscaling:{region}:{account}:scalable-target/0ec{len(team):08x}"] = \
            "run time: the endpoint variant's scalable target"
        out[f"arn:aws:cloudwatch:{region}:{account}:alarm:TargetTracking-endpoint/{endpoint}/variant/{VARIANT}"
            "-AlarmHigh-0123"] = "run time: target tracking alarm"
    return out


#: Resource types whose Ref is a name and whose ARN the harness does not keep.
NAMED_ONLY = {"AWS::CodeBuild::Project": "codebuild:%s:%s:project/",
              "AWS::CodePipeline::Pipeline": "codepipeline:%s:%s:"}


def footprint(team: LocalTeam) -> Footprint:
    found = Footprint(team.name)
    roles = []
    for stack, resources in team.resources.stacks.items():
        for logical_id, resource in resources.items():
            arn = resource.arn
            if resource.type == "AWS::IAM::Role":
                roles.append(resource.ref)
            if resource.type == "AWS::ApiGateway::RestApi":  # Ref is the API id: callers name methods
                found.arns[f"arn:aws:execute-api:{team.region}:{team.account}:{resource.ref}/prod/POST/decisions"] = \
                    f"{stack}/{logical_id} (a method)"
                found.arns[f"arn:aws:apigateway:{team.region}::/restapis/{resource.ref}"] = f"{stack}/{logical_id}"
            if resource.type in NAMED_ONLY:  # the harness keeps only the name: the ARN as AWS forms it
                arn = f"arn:aws:{NAMED_ONLY[resource.type] % (team.region, team.account)}{resource.ref}"
            if not isinstance(arn, str) or not arn.startswith("arn:"):
                continue
            found.arns[arn] = f"{stack}/{logical_id}"
            for below in _below(arn, resource.type):
                found.arns[below] = f"below {stack}/{logical_id}"
    found.arns |= run_time_arns(team.name, team.account, team.region, team.team.realtime.enabled)
    found.tags = {arn: tags(team.name) for arn in found.arns for part, tags in RUN_TIME_TAGS.items() if part in arn}
    found.grants = list(_grants(team, roles))
    for key in team.resources.of_type("AWS::KMS::Key"):  # key policies as the harness evaluates them
        for document in team.aws.iam.resource_policies.get(key.arn, []):
            statements = json.loads(document)["Statement"]
            found.service_statements += [s for s in statements if s["Effect"] == "Allow"
                                         and "Service" in (s.get("Principal") or {})]
    return found


class StageDeployment(LocalTeam):
    """A team's stacks of one stage as the pipeline deploys them: for ``dev`` the top-level
    stacks of the team (its pipeline included), for a target stage every stack of the
    pipeline stage's nested assembly (the smoke test's access stack included)."""

    @property
    def stacks(self) -> list[str]:
        assert self.assembly is not None
        manifest = json.loads((self.assembly.outdir / "manifest.json").read_text())
        artifacts = manifest["artifacts"]
        nested = self.stage != "dev"
        chosen = [name for name, art in artifacts.items() if art["type"] == "aws:cloudformation:stack"
                  and (nested or name == f"{self.name}-pipeline"
                       or art.get("properties", {}).get("tags", {}).get("mdlc:team") == self.name)]
        deps = {n: {d for d in artifacts[n].get("dependencies", []) if d in chosen} for n in chosen}
        ordered: list[str] = []
        while len(ordered) < len(chosen):
            ready = sorted(n for n in chosen if n not in ordered and deps[n] <= set(ordered))
            assert ready, f"stack dependency cycle among {chosen}"
            ordered += ready
        return ordered


def _nested(outdir: Path) -> Assembly:
    return Assembly(outdir=outdir, templates={p.name.removesuffix(".template.json"): json.loads(p.read_text())
                                              for p in outdir.glob("*.template.json")})


@pytest.fixture(scope="module")
def teams_assembly(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Assembly]:
    """The three teams synthesised once, with their pipelines: ``cdk synth`` of the dev
    stage writes the dev stacks, each pipeline, and the staging and production stages the
    pipeline deploys (nested assemblies), as the pipeline's build deploys them."""
    models = tmp_path_factory.mktemp("models")
    for team in TEAMS:
        data = yaml.safe_load(SOURCE.read_text())
        (models / f"{team}.yaml").write_text(yaml.safe_dump({**data, "name": team}, sort_keys=False))
    return models, synth(tmp_path_factory.mktemp("cdk.out"), models_dir=models, stage="dev")


@pytest.fixture(scope="module", params=STAGES)
def account(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            teams_assembly: tuple[Path, Assembly]) -> dict[str, Footprint]:
    """Every team of ``TEAMS`` in one account of one stage: its footprint, by team."""
    models, assembly = teams_assembly
    stage = request.param
    out = {}
    for team in TEAMS:
        deployed = assembly if stage == "dev" else _nested(
            assembly.outdir / f"assembly-{team}-pipeline-{team}-{stage}")
        with StageDeployment(team, models_dir=models, assembly=deployed, stage=stage, quiet=True,
                             workdir=tmp_path_factory.mktemp(team)) as local:
            out[team] = footprint(local)
    accounts = {arn.split(":")[4] for f in out.values() for arn in f.arns if arn.split(":")[4]}
    assert len(accounts) == 1, f"the teams must share one account, got {accounts}"
    return out


# ------------------------------------------------------------------ matching
@dataclass(frozen=True)
class Crossing:
    team: str
    role: str
    action: str
    pattern: str
    other: str
    arn: str
    origin: str

    @property
    def key(self) -> tuple[str, str]:
        """The action and the pattern with team, region and account as placeholders (any stage)."""
        parts = self.pattern.replace(self.team, "<team>").split(":", 5)
        if len(parts) == 6:
            parts[3], parts[4] = parts[3] and "<region>", parts[4] and "<account>"
        return self.action, ":".join(parts)

    def __str__(self) -> str:
        return (f"{self.team} role {self.role}: {self.action} on {self.pattern} reaches {self.other}'s "
                f"{self.arn} ({self.origin})")


def excluded_by_tags(grant: Grant, tags: dict[str, str] | None) -> bool:
    """Whether a condition on the resource's tags refuses the resource whatever the request:
    conditions are ANDed, so one resource-tag condition that fails for the resource's known
    tags excludes it (other condition keys, which a caller controls, are never credited)."""
    if tags is None:
        return False
    context = {f"{prefix}:resourcetag/{k}".lower(): v for k, v in tags.items() for prefix in ("aws", "iam")}
    for operator, key, values in grant.conditions:
        if key.lower().startswith(("aws:resourcetag/", "iam:resourcetag/")) and \
                not condition_holds({operator: {key: json.loads(values)}}, context):
            return True
    return False


def crossings(mine: Footprint, theirs: Footprint) -> Iterator[Crossing]:
    for grant in mine.grants:
        actions = [a for pattern in grant.actions for a in expand(pattern)]
        for pattern in grant.resources:
            for arn, origin in theirs.arns.items():
                if not arn_like(pattern, arn) or excluded_by_tags(grant, theirs.tags.get(arn)):
                    continue
                for action in actions:
                    if not star_only(action) and takes(action, arn):
                        yield Crossing(mine.team, grant.role, action, pattern, theirs.team, arn, origin)


def all_crossings(account: dict[str, Footprint]) -> list[Crossing]:
    return [c for mine in account.values() for theirs in account.values() if mine is not theirs
            for c in crossings(mine, theirs)]


def test_the_footprints_hold_what_the_match_needs(account):
    # The test cannot pass for want of data: every team has roles with scoped statements and
    # the ARNs of its jobs, workflows, buckets and endpoint.
    for team, found in account.items():
        assert len(found.grants) > 50, team
        kinds = {":".join(arn.split(":")[2:6:3]).split("/")[0] for arn in found.arns if "/" in arn or ":" in arn}
        for kind in ("sagemaker:training-job", "sagemaker:model", "sagemaker:endpoint-config", "s3:",
                     "states:stateMachine", "states:execution", "lambda:function", "dynamodb:table"):
            assert any(k.startswith(kind) for k in kinds), (team, kind, sorted(kinds))
        assert any(arn.endswith(f":training-job/{names.team_prefix(team)}train-20260301T000000-" +
                                arn.rsplit("-", 1)[-1]) for arn in found.arns), team


def test_no_role_of_one_team_reaches_a_resource_of_another(account):
    found = all_crossings(account)
    kinds = sorted({c.key for c in found})
    assert not found, (f"{len(found)} crossing(s) from {len(kinds)} statement kind(s) "
                       f"{kinds}:\n" + "\n".join(sorted({str(c) for c in found})[:60]))


#: Key-policy statements for AWS services whose conditions name no source ARN, with why.
#: CDK's state machine with a customer managed key and logging allows log delivery to decrypt
#: (Step Functions' documented key policy has no condition for it); it is a read on behalf of
#: the account's log deliveries, not a service acting for another team's resource.
UNSCOPED_SERVICE_STATEMENTS = {"delivery.logs.amazonaws.com"}


def _source_arns(statement: dict) -> list[str]:
    """The ARN patterns a service statement's conditions limit its sources to."""
    out = []
    for operator, keys in (statement.get("Condition") or {}).items():
        if operator.startswith(("Arn", "StringEquals", "StringLike")):
            for key, value in keys.items():
                if key.lower() == "aws:sourcearn" or (key.lower().startswith("kms:encryptioncontext:")
                                                       and str(value).startswith("arn:")):
                    out += value if isinstance(value, list) else [value]
    return out


def test_no_team_key_lets_a_service_act_for_another_team(account):
    """Each team key's policy lets AWS services (CloudWatch alarms, EventBridge, CloudWatch Logs)
    use the key only for this team's sources: the ARNs its conditions name match no resource
    of another team, and no statement is without them (except the one listed, with why)."""
    problems = []
    for team, found in account.items():
        services = {str(s["Principal"]["Service"]) for s in found.service_statements}
        assert {"cloudwatch.amazonaws.com", "events.amazonaws.com"} <= services, (team, services)  # not vacuous
        for statement in found.service_statements:
            services = statement["Principal"]["Service"]
            services = [services] if isinstance(services, str) else services
            sources = _source_arns(statement)
            if not sources:
                problems += [f"{team}: {s} may use the key for any source" for s in services
                             if s not in UNSCOPED_SERVICE_STATEMENTS]
                continue
            for other, theirs in account.items():
                problems += [f"{team}: {services} for {pattern} reaches {other}'s {arn}"
                             for pattern in sources for arn in theirs.arns
                             if other != team and arn_like(pattern, arn)]
    assert not problems, "\n".join(problems[:40])


def test_a_tag_condition_is_credited_only_where_it_refuses_the_resource():
    """The matcher's own logic (no synthesis): a resource-tag condition excludes a resource
    whose tags are known and fail it; a request key (which the caller sets) never does."""
    grant = Grant("r", "p", ("application-autoscaling:PutScalingPolicy",), ("*",),
                  (("StringEquals", "aws:ResourceTag/mdlc:team", '"fraud"'),))
    assert excluded_by_tags(grant, {"mdlc:team": "fraud-detection"})
    assert not excluded_by_tags(grant, {"mdlc:team": "fraud"})
    assert not excluded_by_tags(grant, None)  # tags unknown: still a crossing
    by_request = Grant("r", "p", grant.actions, ("*",), (("StringEquals", "aws:RequestTag/mdlc:team", '"fraud"'),))
    assert not excluded_by_tags(by_request, {"mdlc:team": "fraud-detection"})


def test_star_only_statements_are_listed(account):
    """Statements on "*" for actions that take only "*" have no ARN to match: listed, and
    limited to the known services (X-Ray, log delivery, metrics with a namespace condition)."""
    star = sorted({a for f in account.values() for g in f.grants if "*" in g.resources
                   for p in g.actions for a in expand(p) if star_only(a)})
    assert star, "expected the tracing and log-delivery statements"
    allowed = ("xray:*", "logs:*LogDelivery*", "logs:Describe*", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
               "cloudwatch:PutMetricData", "ecr:GetAuthorizationToken", "kinesis:ListStreams", "dynamodb:ListStreams",
               "application-autoscaling:Describe*", "cloudwatch:DescribeAlarms")
    unknown = [a for a in star if not any(fnmatch.fnmatchcase(a, p) for p in allowed)]
    assert not unknown, f"new actions granted on '*': {unknown}"


def test_run_time_names_fit_sagemaker_for_the_longest_team_name():
    team = "a" * 30
    run_id = run_id_for("x" * 80, datetime(2026, 3, 1, tzinfo=UTC))
    built = [*names.training_job_names(team, run_id).values(), *names.batch_job_names(team, run_id).values(),
             names.monitoring_job_name(team, run_id), names.batch_model_name(team, run_id),
             names.deployment_name(team, 99999, "0123abcd"), realtime_names.endpoint_name(team)]
    too_long = [n for n in built if len(n) > names.SAGEMAKER_NAME_MAX]
    assert not too_long, too_long


def test_a_prefix_of_one_team_never_starts_another_teams_names():
    """The naming argument of mdlc/names.py, checked on names built like the contract allows."""
    teams = ["fraud", "fraud-detection", "fraud-d", "f-r-a-u-d", "fraud1", "fraud-detection-b", "frau"]
    for a in teams:
        for b in teams:
            if a != b:
                assert not names.team_resource(b, "x").startswith(names.team_prefix(a)), (a, b)
