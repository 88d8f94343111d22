"""Deterministic names of the real-time resources, shared by constructs, CLI and tests."""

from __future__ import annotations

from mdlc import names
from mdlc.names import team_resource

VARIANT = "AllTraffic"
#: The shadow challenger's variant: weight 0, so only the shadow Lambda's TargetVariant calls reach it.
SHADOW_VARIANT = "Shadow"
#: Where the shadow Lambda writes live/shadow decision pairs (capture bucket), read by monitoring.
SHADOW_PREFIX = "shadow/"


def endpoint_name(team: str) -> str:
    """The team's one real-time endpoint; deployments update it in place."""
    return names.endpoint_name(team)


def deployed_parameter(team: str) -> str:
    """SSM parameter holding the deployed version (JSON: package ARN, version, config…)."""
    return f"/mdlc/{team}/realtime/deployed-model"


def decision_bus(team: str) -> str:
    return team_resource(team, "decisions")


def alarm_names(team: str) -> dict[str, str]:
    """Alarms that roll a canary back: endpoint 5xx, model latency, decision error rate."""
    return {
        "errors": team_resource(team, "endpoint-5xx"),
        "latency": team_resource(team, "endpoint-model-latency"),
        "decisions": team_resource(team, "decision-error-rate"),
    }
