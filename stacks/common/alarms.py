"""The team's monitoring alarms as data: the monitoring stage creates them, retraining
starts a run when one fires, so both read the same specs from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_cloudwatch as cw

from stacks.common.props import TeamContext


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm of the team: what it watches and why a retraining it starts says it ran."""

    slug: str
    metric: str
    dimensions: dict[str, str]
    statistic: str
    comparison: cw.ComparisonOperator
    threshold: float
    reason: str  # retraining reason, e.g. drift:endpoint_feature_psi
    kind: str  # drift | quality | staleness | skew
    description: str


def sources(ctx: TeamContext) -> tuple[str, ...]:
    """Where the team's model scores inputs: the endpoint only when the team has one."""
    return ("endpoint", "batch") if ctx.team.realtime.enabled else ("batch",)


def alarm_specs(ctx: TeamContext) -> list[AlarmSpec]:
    """The team's monitoring alarms, thresholds from ``monitoring.*`` in the team file."""
    m = ctx.team.monitoring
    above, below = cw.ComparisonOperator.GREATER_THAN_THRESHOLD, cw.ComparisonOperator.LESS_THAN_THRESHOLD
    specs = []
    for source in sources(ctx):
        specs += [
            AlarmSpec(f"{source}-feature-drift", "MaxFeaturePSI", {"Source": source}, "Maximum", above,
                      m.max_feature_psi, f"drift:{source}_feature_psi", "drift",
                      f"largest feature PSI of {source} inputs versus the training baseline > {m.max_feature_psi}"),
            AlarmSpec(f"{source}-prediction-drift", "PredictionPSI", {"Source": source}, "Maximum", above,
                      m.max_prediction_psi, f"drift:{source}_prediction_psi", "drift",
                      f"PSI of {source} scores versus the champion's test scores > {m.max_prediction_psi}"),
        ]
    if ctx.team.realtime.enabled:
        specs.append(AlarmSpec(
            "feature-skew", "MaxFeatureSkew", {}, "Maximum", above, m.max_feature_skew, "skew:feature_skew", "skew",
            f"share of decisions served a feature value other than its point-in-time recomputation from the raw "
            f"data > {m.max_feature_skew} (a serving fault: retraining does not fix it)"))
    specs += [
        AlarmSpec("precision-low", "Precision", {}, "Minimum", below, m.min_precision, "quality:precision",
                  "quality", f"precision on labelled predictions < {m.min_precision}"),
        AlarmSpec("recall-low", "Recall", {}, "Minimum", below, m.min_recall, "quality:recall", "quality",
                  f"recall on labelled predictions < {m.min_recall}"),
        AlarmSpec("pr-auc-low", "PRAUC", {}, "Minimum", below, m.min_pr_auc, "quality:pr_auc", "quality",
                  f"PR-AUC on labelled predictions < {m.min_pr_auc}"),
        AlarmSpec("model-stale", "ModelAgeDays", {}, "Maximum", above, m.max_model_age_days,
                  "staleness:model_age_days", "staleness",
                  f"the Approved model is older than max_model_age_days ({m.max_model_age_days})"),
    ]
    return specs


def metric_namespace(team: str) -> str:
    return f"MDLC/{team}"
