"""A project Lambda function: its handler folder plus the shared modules it imports.

The code is staged into ``build/<team>/lambda/<stage>/<name>/`` with the same package layout
as the repository (``lambdas/<stage>/<name>/handler.py``, ``lambdas/shared/``,
``mdlc/features.py``), so the handler imports the same modules in Lambda as in the offline
tests. Deployed names (log group, role description, Powertools service) use ``<name>`` only,
so moving a handler between folders never orphans a retained log group.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from mdlc import shipping
from mdlc.contract import REPO_ROOT
from mdlc.runtimes import lambda_runtime
from stacks.common.nag import acknowledge, acknowledge_resource, skip_checkov
from stacks.common.network import eni_statements, workload_security_group_ids
from stacks.common.props import TeamContext, write_team_spec

# The Python runtime of every function: runtimes/lambda-python/runtime.toml, the Python the
# handler unit tests run on (a test fails if the two drift apart).
LAMBDA_PYTHON = lambda_runtime().python
LAMBDA_RUNTIME = getattr(lambda_.Runtime, "PYTHON_" + LAMBDA_PYTHON.replace(".", "_"))


def pinned_version(package: str, requirements: Path | None = None) -> str:
    """The ``==`` pin of ``package`` in the Lambda runtime's requirements (the one place it is pinned)."""
    path = requirements or lambda_runtime().requirements[0]
    for line in path.read_text().splitlines():
        match = re.match(rf"{re.escape(package)}(\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if match:
            return match.group(2)
    raise ValueError(f"{path}: no `{package}==<version>` pin; expected one, e.g. {package}==3.37.0")


# Powertools for AWS Lambda (Python) v3 public layer (pydantic, X-Ray SDK included), of the
# release the handler tests run (runtimes/lambda-python/requirements.txt). Powertools numbers
# its layer versions per publication, not per release (x86_64 layer 27 is release 3.23.0,
# aws-powertools/powertools-lambda-python#7689), so the ARN is read at deploy from the public
# parameter Powertools keeps per release: /aws/service/powertools/python/<arch>/<python>/<release>.
POWERTOOLS_VERSION = pinned_version("aws-lambda-powertools")
POWERTOOLS_LAYER_PARAMETER = f"/aws/service/powertools/python/x86_64/python{LAMBDA_PYTHON}/{POWERTOOLS_VERSION}"
SHARED = shipping.LAMBDA  # what every function's asset holds besides its own folder


def stage_code(stage: str, name: str, build_dir: Path, spec_file: Path) -> Path:
    """Copy one handler, the shared modules and the team spec into a clean folder."""
    source = REPO_ROOT / "lambdas" / stage / name
    if not (source / "handler.py").is_file():
        raise FileNotFoundError(f"lambdas/{stage}/{name}/handler.py: no such handler")
    target = build_dir / "lambda" / stage / name
    if target.exists():
        shutil.rmtree(target)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", "event.json")
    for rel in (*SHARED, f"lambdas/{stage}/__init__.py", f"lambdas/{stage}/{name}"):
        src = REPO_ROOT / rel
        if src.is_dir():
            shutil.copytree(src, target / rel, ignore=ignore)
        elif src.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / rel)
    shutil.copy2(spec_file, target / "team.json")
    return target


class ProjectFunction(Construct):
    """One handler of ``lambdas/<stage>/``: own role, KMS-encrypted log group, X-Ray tracing."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ctx: TeamContext,
        stage: str,
        handler: str,
        description: str,
        key: kms.IKey,
        environment: dict[str, str] | None = None,
        timeout: cdk.Duration | None = None,
        memory_size: int = 512,
        invoked_by: str = "this team's workflow",
        reserved_concurrency: int | None = None,
        unreserved_reason: str | None = None,
        on_failure: sns.ITopic | None = None,
        provisioned_concurrency: int | None = None,
        snap_start: bool = False,
    ) -> None:
        """``invoked_by`` names the caller (for the reasons recorded with checkov's skips);
        ``unreserved_reason`` says why a function that could reserve concurrency does not;
        ``on_failure`` makes the function asynchronously invoked: failed events, with the
        request and the error, go to that topic after two retries."""
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/{ctx.name}/lambda/{handler}",
            encryption_key=key,
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{ctx.name} Lambda {handler}",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"{ctx.name}: {description}",
            runtime=LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=f"lambdas.{stage}.{handler}.handler.handler",
            code=lambda_.Code.from_asset(
                str(stage_code(stage, handler, ctx.build_dir, write_team_spec(ctx)))
            ),
            role=self.role,
            timeout=timeout or cdk.Duration.seconds(60),
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=reserved_concurrency,
            on_failure=destinations.SnsDestination(on_failure) if on_failure else None,
            retry_attempts=2 if on_failure else None,
            max_event_age=cdk.Duration.hours(6) if on_failure else None,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment_encryption=key,
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self,
                    "Powertools",
                    # One CloudFormation parameter per stack (CDK shares it by name).
                    ssm.StringParameter.value_for_string_parameter(stack, POWERTOOLS_LAYER_PARAMETER),
                )
            ],
            environment={
                "POWERTOOLS_SERVICE_NAME": f"{ctx.name}-{handler}",
                "POWERTOOLS_METRICS_NAMESPACE": f"MDLC/{ctx.name}",
                "MDLC_TEAM": ctx.name,
                **(environment or {}),
            },
        )
        # Tells the offline harness where this function's code root is in the repository
        # (the staged bundle mirrors the repository layout, so that is the repository root).
        self.function.node.default_child.add_metadata("mdlc:source", ".")
        # What callers invoke: the function, or its `live` alias when it keeps warm environments
        # (provisioned concurrency) or restores snapshots (SnapStart): both apply to versions only.
        self.invocable: lambda_.IFunction = self.function
        self.team = ctx.name
        if provisioned_concurrency or snap_start:
            self.invocable = self._live_alias(provisioned_concurrency, snap_start)
        key.grant_decrypt(self.role)
        self._place_in_vpc(ctx)
        if on_failure is not None and on_failure.master_key is not None:
            # The on-failure destination publishes to an encrypted topic.
            on_failure.master_key.grant(self.role, "kms:GenerateDataKey", "kms:Decrypt")
        self._reason_static_findings(invoked_by, reserved_concurrency, unreserved_reason, on_failure,
                                     ctx.team.network.vpc is not None)
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"python{LAMBDA_PYTHON} is the newest Python the handlers are tested on "
            "(runtimes/lambda-python; no 3.14 interpreter is installable on the build machines).",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments/PutTelemetryRecords accept no resource scope; CDK adds "
            "them for active tracing."
            + (" ec2:Describe* (Lambda placing the function's interfaces in the team's subnets) takes none "
               "either." if ctx.team.network.vpc is not None else ""),
        )

    def _place_in_vpc(self, ctx: TeamContext) -> None:
        """With ``network.vpc``: the function's interfaces in the team's subnets and security groups
        (stacks/common/network.py); Lambda creates them with the function's role."""
        vpc = ctx.team.network.vpc
        if vpc is None:
            return
        groups = workload_security_group_ids(ctx.team)
        cfn = self.function.node.default_child
        cfn.vpc_config = lambda_.CfnFunction.VpcConfigProperty(subnet_ids=list(vpc.subnet_ids),
                                                               security_group_ids=groups)
        for statement in eni_statements(vpc, groups, permissions=False, scope=self):
            self.role.add_to_principal_policy(statement)
        acknowledge_resource(
            self.role, cdk.Stack.of(self).format_arn(service="ec2", resource="network-interface", resource_name="*"),
            "Lambda creates the function's network interfaces at run time (ids unknown before); deleting "
            "and re-addressing them is limited to the team's VPC (ec2:Vpc condition).")

    def _live_alias(self, provisioned: int | None, snap_start: bool) -> lambda_.Alias:
        """The `live` alias on the current version, with provisioned concurrency or SnapStart."""
        if snap_start and not provisioned:
            self.function.node.default_child.snap_start = lambda_.CfnFunction.SnapStartProperty(
                apply_on="PublishedVersions")
        # Named like every flat name of the team (<team>--…), though an alias is per function.
        return lambda_.Alias(self, "Live", alias_name=f"{self.team}--live", version=self.function.current_version,
                             provisioned_concurrent_executions=provisioned)

    def _reason_static_findings(self, invoked_by: str, reserved: int | None, unreserved_reason: str | None,
                                on_failure: sns.ITopic | None, in_vpc: bool) -> None:
        """Why checkov's Lambda checks that this function does not meet do not apply to it."""
        if not in_vpc:  # with network.vpc the function is in the team's subnets (_place_in_vpc)
            skip_checkov(self.function, "CKV_AWS_117",
                         "The function calls only AWS APIs (S3, DynamoDB, SageMaker, Step Functions, "
                         "CloudWatch, EventBridge, SNS) over TLS with IAM; it reaches nothing inside a VPC and "
                         "the team file places the team in none (network.vpc), so a VPC would add endpoint "
                         "cost and no isolation.")
        if on_failure is None:
            skip_checkov(self.function, "CKV_AWS_116",
                         f"Invoked synchronously by {invoked_by}: the caller receives every error and "
                         "handles it (Retry/Catch); a dead-letter queue only receives failed asynchronous "
                         "invocations, of which this function has none.")
        else:
            skip_checkov(self.function, "CKV_AWS_116",
                         f"Invoked asynchronously by {invoked_by}; a failed event goes, with its request "
                         "and error, to the on-failure destination (the team's alerts topic) of its "
                         "EventInvokeConfig after two retries, which supersedes a dead-letter queue.")
        if reserved is None:
            skip_checkov(self.function, "CKV_AWS_115", unreserved_reason or (
                         f"Runs once per run of {invoked_by}, a few concurrent executions at most; a "
                         "reservation would take from the account's unreserved pool that twenty teams "
                         "share, and an account whose quota is 100 or less (new accounts) can reserve "
                         "nothing. Only the decision path may reserve (realtime.decision_concurrency)."))
