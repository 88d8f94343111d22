"""Deployment unit of the retraining triggers."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from stacks.common.props import TeamContext
from stacks.data_plane import DataPlane
from stacks.retraining.construct import RetrainingTriggers


class RetrainingStack(cdk.Stack):
    """Schedule and alarm rules that start the team's training workflow, one run at a time."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.retraining = RetrainingTriggers(self, "Retraining", ctx=ctx, data=data)
        cdk.CfnOutput(self, "RetrainingGuardFunction", value=self.retraining.guard.function.function_name)
