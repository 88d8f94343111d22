"""Deployment unit of real-time inference: endpoint deployment, decision workflow and API."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from stacks.common.nag import skip_checkov
from stacks.common.props import TeamContext
from stacks.data_plane import DataPlane
from stacks.realtime.api import DecisionApi
from stacks.realtime.decisions import DecisionService
from stacks.realtime.deployment import EndpointDeployment
from stacks.realtime.shadow import ShadowChallenger


class RealtimeStack(cdk.Stack):
    """The team's endpoint deployment workflow, decision workflow and decision API."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.decisions = DecisionService(self, "Decisions", ctx=ctx, data=data)
        self.deployment = EndpointDeployment(self, "Deployment", ctx=ctx, data=data,
                                             decision_machine=self.decisions.state_machine)
        # A shadow challenger reads the decisions the workflow records; it adds no step to it.
        self.shadow = (ShadowChallenger(self, "Shadow", ctx=ctx, data=data, decisions=self.decisions)
                       if ctx.team.realtime.shadow is not None else None)
        self.api = DecisionApi(self, "Api", ctx=ctx, data=data, decision_machine=self.decisions.state_machine)
        skip_checkov(self.api.api.deployment_stage, "CKV_AWS_120",
                     "Every POST /decisions is a new decision with its own request_id and side effects "
                     "(recorded, published); a cached response would skip both. Replays of a request_id "
                     "are answered from the idempotency table, not from an API cache.")
        cdk.CfnOutput(self, "DecisionApiUrl", value=self.api.url,
                      description="POST decisions here (IAM auth, SigV4)")
        cdk.CfnOutput(self, "DecisionStateMachineArn", value=self.decisions.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "DeploymentStateMachineArn", value=self.deployment.state_machine.state_machine_arn)
