"""A project Lambda function: its handler folder plus the shared modules it imports.

The code is staged into ``build/<team>/lambda/<stage>/<name>/`` with the same package layout
as the repository (``lambdas/<stage>/<name>/handler.py``, ``lambdas/shared/``,
``mdlc/features.py``), so the handler imports the same modules in Lambda as in the offline
tests. Deployed names (log group, role description, Powertools service) use ``<name>`` only,
so moving a handler between folders never orphans a retained log group.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from mdlc.contract import REPO_ROOT
from stacks.common.nag import acknowledge
from stacks.common.props import TeamContext, write_team_spec

# Powertools for AWS Lambda (Python) v3 public layer (pydantic, X-Ray SDK included).
POWERTOOLS_LAYER = "arn:{partition}:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-x86_64:27"
SHARED = ("lambdas/__init__.py", "lambdas/shared", "mdlc/__init__.py", "mdlc/features.py")


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
    ) -> None:
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
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.X86_64,
            handler=f"lambdas.{stage}.{handler}.handler.handler",
            code=lambda_.Code.from_asset(
                str(stage_code(stage, handler, ctx.build_dir, write_team_spec(ctx)))
            ),
            role=self.role,
            timeout=timeout or cdk.Duration.seconds(60),
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment_encryption=key,
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self,
                    "Powertools",
                    POWERTOOLS_LAYER.format(partition=stack.partition, region=stack.region),
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
        key.grant_decrypt(self.role)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments/PutTelemetryRecords accept no resource scope; CDK adds "
            "them for active tracing.",
        )
