"""Deployment unit of the training workflow."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from stacks.common.props import TeamContext
from stacks.data_plane import DataPlane
from stacks.training.construct import TrainingWorkflow


class TrainingStack(cdk.Stack):
    """The team's training workflow, wired to its data plane."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.training = TrainingWorkflow(self, "Training", ctx=ctx, data=data)
        cdk.CfnOutput(self, "TrainingStateMachineArn", value=self.training.state_machine.state_machine_arn)
