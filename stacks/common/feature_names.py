"""Names of the feature pipeline that other stages reference (deterministic, by name)."""

from __future__ import annotations

from mdlc.names import team_resource


def stream_name(team: str) -> str:
    """The team's raw event stream; the decision workflow feeds it."""
    return team_resource(team, "events")


def backfill_workflow(team: str) -> str:
    """The feature backfill/reconciliation state machine; the deployment workflow starts it."""
    return team_resource(team, "feature-backfill")


def signature_parameter(team: str) -> str:
    """SSM parameter: the feature definitions the online table holds (written by the backfill)."""
    return f"/mdlc/{team}/features/state-signature"
