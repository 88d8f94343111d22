"""Deployment unit of model monitoring: workflow, alarms, dashboard."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from stacks.common.props import TeamContext
from stacks.data_plane import DataPlane
from stacks.monitoring.construct import MonitoringWorkflow


class MonitoringStack(cdk.Stack):
    """The team's monitoring workflow and schedule, its alarms and its dashboard."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.monitoring = MonitoringWorkflow(self, "Monitoring", ctx=ctx, data=data)
        cdk.CfnOutput(self, "MonitoringStateMachineArn", value=self.monitoring.state_machine.state_machine_arn)
