"""Deployment unit of the batch inference workflow."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from stacks.batch.construct import BatchWorkflow
from stacks.common.props import TeamContext
from stacks.data_plane import DataPlane


class BatchStack(cdk.Stack):
    """The team's batch scoring workflow and schedule, wired to its data plane."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.batch = BatchWorkflow(self, "Batch", ctx=ctx, data=data)
        cdk.CfnOutput(self, "BatchStateMachineArn", value=self.batch.state_machine.state_machine_arn)
