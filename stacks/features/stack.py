"""Deployment unit of the team's feature pipeline: stream, consumer, backfill, alarms."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from stacks.common.props import TeamContext
from stacks.data_plane import DataPlane
from stacks.features.construct import FeaturePipeline


class FeaturesStack(cdk.Stack):
    """The team's streaming feature pipeline, apart from training."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.features = FeaturePipeline(self, "Features", ctx=ctx, data=data)
        cdk.CfnOutput(self, "EventStreamName", value=self.features.stream.stream_name)
        cdk.CfnOutput(self, "FeatureBackfillStateMachineArn", value=self.features.state_machine.state_machine_arn)
