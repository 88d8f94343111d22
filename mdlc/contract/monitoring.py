"""Monitoring, retraining and the event stream."""

from __future__ import annotations

from pydantic import (
    Field,
)

from mdlc.contract.base import SCHEDULE_PATTERN, Schedule, Strict


# ---------------------------------------------------------------------------- monitoring
class Monitoring(Strict):
    schedule: Schedule = Field(default="rate(1 hour)", description="EventBridge schedule of the monitoring workflow.")
    max_feature_psi: float = Field(default=0.2, gt=0, description="Input drift alarm threshold.")
    max_prediction_psi: float = Field(default=0.2, gt=0, description="Score drift alarm.")
    min_precision: float = Field(default=0.2, ge=0, le=1, description="Closed-loop alarm.")
    min_recall: float = Field(default=0.4, ge=0, le=1, description="Closed-loop alarm.")
    min_pr_auc: float = Field(default=0.3, ge=0, le=1, description="Closed-loop alarm.")
    max_model_age_days: int = Field(default=45, ge=1, description="Staleness alarm.")
    label_delay_hours: int = Field(
        default=0,
        ge=0,
        le=24 * 180,
        description="Hours after a prediction until its ground-truth label has arrived. Each run "
        "measures quality on the predictions of its window shifted back by this much, with the "
        "labels that arrived since (`dt=` partitions of the ground-truth prefix, by arrival day).",
    )
    score_threshold: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Scores at or above this count as predicted positives for the closed-loop "
        "precision and recall (e.g. the score from which a case is reviewed).",
    )
    max_feature_skew: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Training/serving skew alarm: the largest share of served decisions whose "
        "feature value differs from the point-in-time value recomputed from the raw data for the "
        "same event (`FeatureSkew`, per feature). Serving and training share one feature "
        "definition, so any skew is a serving fault (a lagging feature stream, a stale online "
        "table); it alarms but never retrains.",
    )
    feature_skew_delay_hours: int = Field(
        default=24,
        ge=0,
        le=24 * 30,
        description="Hours after a decision until its event is in the newest raw partition (the "
        "team's raw export). Each run checks skew on the decisions of its window shifted back by "
        "this much; decisions whose events are not in the raw data yet are counted as unmatched.",
    )


class Retraining(Strict):
    schedule: Schedule | None = Field(default=None, description="Periodic retraining; none = off.")
    on_drift: bool = Field(
        default=True, description="Retrain when an input or score drift alarm fires."
    )
    on_quality_drop: bool = Field(
        default=True, description="Retrain when a closed-loop quality alarm fires."
    )
    on_staleness: bool = Field(
        default=True,
        description="Retrain when the Approved model is older than "
        "`monitoring.max_model_age_days`.",
    )
    auto_approve: bool = Field(
        default=False, description="Approve a retrained model that passes the gate, unattended."
    )


class Streaming(Strict):
    allowed_lateness_minutes: int = Field(
        default=60, ge=0, le=7 * 24 * 60,
        description="An event up to this much older than its entity's newest event still "
        "counts in the right windows; an older one is counted in `LateEventsDropped` and "
        "logged, not applied. The online table keeps each entity's events for the longest "
        "window plus this.",
    )
    batch_size: int = Field(default=100, ge=1, le=10000,
                            description="Stream records per consumer Lambda invocation.")
    max_batching_window_seconds: int = Field(
        default=1, ge=0, le=300,
        description="How long the event source mapping gathers records before invoking.")
    retry_attempts: int = Field(
        default=5, ge=0, le=10000,
        description="Retries of a failing batch (bisected) before it goes to the dead-letter queue.")
    max_lag_seconds: int = Field(
        default=60, ge=1, description="Freshness alarm: event → feature lag above this.")
    reconciliation_schedule: str = Field(
        default="rate(1 day)", pattern=SCHEDULE_PATTERN,
        description="Schedule of the backfill/reconciliation workflow.")
    max_mismatch_rate: float = Field(
        default=0.001, ge=0, le=1,
        description="Alarm when more than this share of entities differ from the recomputation.")


