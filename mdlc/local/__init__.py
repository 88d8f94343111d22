"""Run a team's workflows on this machine: synthesise, deploy into moto, execute.

``LocalTeam`` is what ``mdlc local …`` and the integration tests use: the templates are the
ones ``cdk synth`` produces, deployed into the offline harness (mdlc/harness), with the
CDK file assets (job-code bundle, team spec) uploaded where the templates expect them.
"""

from mdlc.local.team import LocalTeam, WorkflowFailed

__all__ = ["LocalTeam", "WorkflowFailed"]
