"""All stacks of one model team. Stack names and construct IDs start with the team name."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from mdlc.names import boundary_name, qualifier
from stacks.batch.stack import BatchStack
from stacks.common.lambda_function import ProjectFunction
from stacks.common.network import endpoint_services, vpc_callers
from stacks.common.props import TeamContext
from stacks.data_plane import DataPlaneStack
from stacks.features.stack import FeaturesStack
from stacks.monitoring.stack import MonitoringStack
from stacks.realtime.stack import RealtimeStack
from stacks.retraining.stack import RetrainingStack
from stacks.training.stack import TrainingStack


class TeamStacks:
    """Composes a team's deployment units and wires them together."""

    def __init__(self, scope: Construct, *, ctx: TeamContext, env: cdk.Environment) -> None:
        name = ctx.name
        self.ctx = ctx

        def placed() -> dict:
            """Where a stack deploys, through the team's own bootstrap (one synthesizer per stack)."""
            return {"env": env, "synthesizer": synthesizer(ctx)}

        self.data = DataPlaneStack(
            scope,
            f"{name}-data",
            ctx=ctx,
            **placed(),
            description=f"MDLC data plane of model team {name}: key, buckets, feature table, alerts, registry",
        )
        # The feature pipeline: stream → consumer → online table, and the backfill (apart from training).
        self.features = FeaturesStack(scope, f"{name}-features", ctx=ctx, data=self.data.data, **placed(),
                                      description=f"MDLC streaming online features of model team {name}")
        self.training = TrainingStack(
            scope,
            f"{name}-training",
            ctx=ctx,
            data=self.data.data,
            **placed(),
            description=f"MDLC training workflow of model team {name}",
        )
        if ctx.team.realtime.enabled:  # real-time inference: endpoint deployment, decision workflow and API
            self.realtime = RealtimeStack(scope, f"{name}-realtime", ctx=ctx, data=self.data.data, **placed(),
                                          description=f"MDLC real-time inference and decision API of model team {name}")
            self.realtime.add_stack_dependency(self.features)  # feeds scored transactions into the stream by name
        # Batch, monitoring and retraining (MDLC stages 6-7 and the loop back to training).
        stage = {"ctx": ctx, "data": self.data.data}
        self.batch = BatchStack(scope, f"{name}-batch", **stage, **placed(),
                                description=f"MDLC batch inference workflow of model team {name}")
        self.monitoring = MonitoringStack(scope, f"{name}-monitoring", **stage, **placed(),
                                          description=f"MDLC monitoring, alarms and dashboard of model team {name}")
        self.retraining = RetrainingStack(scope, f"{name}-retraining", **stage, **placed(),
                                          description=f"MDLC retraining triggers of model team {name}")
        self.retraining.add_stack_dependency(self.training)  # starts the training workflow by name
        self.retraining.add_stack_dependency(self.monitoring)  # reacts to the monitoring alarms by name
        self.stacks: list[cdk.Stack] = [self.data, self.features, self.training, self.batch, self.monitoring,
                                        self.retraining]
        if ctx.team.realtime.enabled:
            self.stacks.append(self.realtime)
        self._add_vpc_endpoints()
        for stack in self.stacks:
            _tag(stack, ctx)
            bound(stack, ctx)

    def _add_vpc_endpoints(self) -> None:
        """With ``network.vpc``: the VPC endpoints of every service the team's functions (and
        containers) are granted, read from the grants once every stack has made them."""
        data = self.data.data
        if data.network is None:
            return
        functions = [(f.node.path, f.role) for stack in self.stacks for f in stack.node.find_all()
                     if isinstance(f, ProjectFunction)]
        data.network.add_endpoints(endpoint_services(vpc_callers(self.ctx.team, functions, data.sagemaker_role)))


def synthesizer(ctx: TeamContext) -> cdk.DefaultStackSynthesizer:
    """The team's own bootstrap (``cdk bootstrap --qualifier``): its deploy, asset and
    CloudFormation execution roles, whose execution policy reaches only this team (mdlc/bootstrap.py)."""
    return cdk.DefaultStackSynthesizer(qualifier=qualifier(ctx.name, ctx.team.pipeline.bootstrap_qualifier))


def bound(stack: cdk.Stack, ctx: TeamContext) -> None:
    """Every role the stack creates carries the team's permissions boundary (``<team>--boundary``,
    made by the team's bootstrap step): the execution policy creates roles only with it."""
    boundary = iam.ManagedPolicy.from_managed_policy_name(stack, "TeamPermissionsBoundary", boundary_name(ctx.name))
    iam.PermissionsBoundary.of(stack).apply(boundary)


def _tag(stack: cdk.Stack, ctx: TeamContext) -> None:
    """The team's tags on every resource and on the CloudFormation stack itself.

    With ``@aws-cdk/core:explicitStackTags`` (cdk.json), ``Tags.of(stack)`` tags only the
    resources; the stack's own tags (which CloudFormation also propagates, and which cost
    reports group by) are set on its tag manager explicitly.
    """
    tags = {"mdlc:team": ctx.name, "mdlc:stage": ctx.stage, **ctx.team.tags}
    for key, value in tags.items():
        cdk.Tags.of(stack).add(key, value)
        stack.tags.set_tag(key, value)
