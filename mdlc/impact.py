"""What each section of the team file changes in the deployed system: the one mapping.

``mdlc diff`` reads it to say which stacks and workflows a changed setting touches. Keep it
next to the contract: a new setting, stack or workflow is added here in the same change.
Keys are dotted paths of the team file; the longest key that prefixes a setting wins.
Stack names are suffixes of ``<team>-``; workflows are state machines ``<team>--<workflow>`` (mdlc/names.py).
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_STACKS = ("data", "features", "training", "batch", "realtime", "monitoring", "retraining", "pipeline")
ALL_WORKFLOWS = ("training", "batch", "realtime-deploy", "monitoring", "retraining", "feature-backfill")


@dataclass(frozen=True)
class Impact:
    stacks: tuple[str, ...]
    workflows: tuple[str, ...]
    effect: str


IMPACT: dict[str, Impact] = {
    "name": Impact(ALL_STACKS, ALL_WORKFLOWS,
                   "renames every stack and named resource: a new, empty set of resources"),
    "description": Impact((), (), "documentation only"),
    "owner.team": Impact((), (), "documentation only"),
    "owner.email": Impact(("data",), (), "alert subscription of the owner (when no alert_email)"),
    "owner.alert_email": Impact(("data",), (), "address subscribed to the alerts topic"),
    "environments": Impact(ALL_STACKS, (), "account/region the stacks of that stage deploy to"),
    "environments.staging": Impact(("pipeline",), (), "where the pipeline deploys and smoke-tests staging"),
    "environments.production": Impact(("pipeline",), (), "where the pipeline deploys production"),
    "environments.tooling": Impact(("pipeline",), (), "account/region of the pipeline itself"),
    "data.raw_prefix": Impact(("training", "monitoring"), ("training", "retraining", "monitoring"),
                              "where training reads raw records (and the monitor's skew check)"),
    "data.ground_truth_prefix": Impact(("monitoring",), ("monitoring",), "labels joined by the closed-loop monitor"),
    "data.raw_retention_days": Impact(("data",), (), "lifecycle expiry of the raw bucket"),
    "data.capture_retention_days": Impact(("data",), (), "lifecycle expiry of the capture bucket"),
    "data.noncurrent_version_days": Impact(("data",), (), "expiry of old object versions in every bucket"),
    "schema": Impact(("features", "training", "batch", "realtime", "monitoring"),
                     ("training", "batch", "monitoring", "retraining", "feature-backfill"),
                     "features computed, checked and served: the next model's inputs and every request"),
    "schema.entity_key": Impact(("data", "training", "realtime"), ("training", "batch"),
                                "partition key of the online feature table: the table is REPLACED"),
    "schema.amount_column": Impact(("training",), ("training",),
                                   "amounts in the evaluation report's score-band table of the next run"),
    "data_quality": Impact(("training",), ("training", "retraining"), "thresholds of the data quality gate"),
    "training": Impact(("training",), ("training", "retraining"), "the training job of the next run"),
    "training.tuning": Impact(("training",), ("training", "retraining"),
                              "a tuning job (max_jobs trainings) instead of one training job in the next run"),
    "training.processing_instance_type": Impact(("training",), ("training", "retraining"),
                                                "instances of the data quality, feature and evaluation jobs"),
    "evaluation": Impact(("training",), ("training", "retraining"), "the evaluation gate and registration"),
    "evaluation.approval_status": Impact(("training",), ("training", "retraining", "realtime-deploy"),
                                         "whether a registered model deploys without a person's approval"),
    "batch": Impact(("batch",), ("batch",), "batch scoring job and its schedule"),
    "batch.reason_codes": Impact(("batch", "training"), ("training", "batch"),
                                 "reason codes in batch output: the model carries the count, so retrain and "
                                 "approve before the next batch run (its validation fails otherwise)"),
    "realtime": Impact(("realtime",), ("realtime-deploy",), "endpoint, its scaling and the decision API"),
    "realtime.canary": Impact(("realtime",), ("realtime-deploy",), "traffic shift of the next model deployment"),
    "realtime.data_capture_percent": Impact(("realtime",), ("monitoring",),
                                            "share of requests captured for monitoring"),
    "realtime.fallback_decision": Impact(("realtime",), (), "decision the API returns when the model cannot answer"),
    "realtime.reason_codes": Impact(("training",), ("training", "realtime-deploy"),
                                    "reason codes per decision: from the next trained and deployed version"),
    "realtime.reason_method": Impact(("training",), ("training", "realtime-deploy"),
                                     "how reason codes are computed: from the next trained and deployed version"),
    "monitoring": Impact(("monitoring",), ("monitoring",), "drift and quality alarms"),
    "retraining": Impact(("retraining",), ("retraining",), "when retraining starts"),
    "retraining.auto_approve": Impact(("retraining",), ("retraining", "realtime-deploy"),
                                      "whether a retrained model deploys unattended"),
    "decision_rules": Impact(("realtime", "batch"), (),
                             "decisions the API returns (a new policy_version) and the policy_version in batch "
                             "manifests (batch publishes scores only)"),
    "decision_rules.guardrails": Impact((), (), "limits the pipeline's test stage holds a policy change to "
                                                "(mdlc backtest); nothing deployed changes"),
    "decision_rules.costs": Impact(("training",), ("training", "retraining"),
                                   "the cost-based bands the next run's evaluation report suggests; nothing "
                                   "deployed decides by them"),
    "streaming": Impact(("features",), ("feature-backfill",),
                        "stream consumer batching, allowed lateness, freshness and reconciliation alarms; "
                        "a new lateness changes the stored state's signature: the backfill rebuilds it"),
    "pipeline": Impact(("pipeline",), (), "source of the CI/CD pipeline"),
    "network.isolation": Impact(("training", "batch", "realtime", "monitoring"),
                                ("training", "retraining", "batch", "realtime-deploy", "monitoring"),
                                "EnableNetworkIsolation of every SageMaker job and model (from the next run/deploy)"),
    "network.vpc": Impact(("data", "features", "training", "batch", "realtime", "monitoring", "retraining"),
                          ("training", "retraining", "batch", "realtime-deploy", "monitoring"),
                          "subnets and security groups of every function, job and endpoint; the data stack's "
                          "security group and VPC endpoints"),
    "tags": Impact(ALL_STACKS, (), "tags on every resource"),
}


def impact_of(path: str) -> Impact:
    """The impact of a changed setting (dotted path), by the longest matching key."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in IMPACT:
            return IMPACT[key]
    raise KeyError(f"no impact recorded for setting {path!r}; add its section to mdlc/impact.py")
