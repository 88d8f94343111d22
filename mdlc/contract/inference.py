"""Inference: batch transform, the real-time endpoint, its canary and its decision API."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from mdlc.contract.base import INSTANCE_PATTERN, PATTERN_EXAMPLES, Decision, Schedule, Strict
from mdlc.contract.decisions import DecisionRules


# ----------------------------------------------------------------------------- inference
class Batch(Strict):
    schedule: Schedule | None = Field(
        default=None,
        description="EventBridge schedule of batch scoring; none runs it only by hand.",
    )
    input_prefix: str = Field(default="batch/input/", pattern=r"^[a-z0-9_\-/]+/$")
    output_prefix: str = Field(default="batch/results/", pattern=r"^[a-z0-9_\-/]+/$")
    content_type: Literal["text/csv", "application/jsonlines"] = Field(
        default="text/csv",
        description="Format of the records the Transform job scores and returns (the input files "
        "are raw CSV records either way).",
    )
    instance_type: str = Field(default="ml.m5.xlarge", pattern=INSTANCE_PATTERN)
    instance_count: int = Field(default=1, ge=1, le=100)
    max_payload_mb: int = Field(default=6, ge=1, le=100)
    reason_codes: int = Field(
        default=0,
        ge=0,
        le=20,
        description="Reason codes per scored row in the batch output (feature, value, signed "
        "contribution of the top N features); 0 writes scores only.",
    )
    min_rows: int = Field(
        default=1,
        ge=1,
        description="Fewer input rows fail the batch input's data-quality check (the batch's own "
        "minimum, independent of the training `data_quality.min_rows`). Missing-value, "
        "out-of-range limits are those of `data_quality`.",
    )
    max_psi: float | None = Field(
        default=None,
        gt=0,
        description="Largest PSI of a feature of the batch input versus the model's training "
        "baseline before the batch is stopped. None (the default) scores a drifted batch and "
        "leaves drift to monitoring (its alarms can retrain): a batch is scored even when the "
        "population moves.",
    )


class Canary(Strict):
    percent: int = Field(default=10, ge=1, le=50, description="Share of capacity shifted first.")
    bake_minutes: int = Field(default=10, ge=1, le=60, description="Wait before the rest shifts.")


class Serverless(Strict):
    memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    max_concurrency: int = Field(default=5, ge=1, le=200)


ROLE_OR_ACCOUNT_PATTERN = r"^([0-9]{12}|arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512})$"
WEB_ACL_PATTERN = r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/[A-Za-z0-9_-]{1,128}/[a-f0-9-]{36}$"
PATTERN_EXAMPLES[ROLE_OR_ACCOUNT_PATTERN] = ("a 12-digit account id in quotes or an IAM role ARN, e.g. "
                                             "\"444444444444\" or arn:aws:iam::444444444444:role/payments-gateway")
PATTERN_EXAMPLES[WEB_ACL_PATTERN] = ("a regional WAFv2 web ACL ARN, e.g. arn:aws:wafv2:eu-west-1:333333333333:"
                                     "regional/webacl/payments/a1b2c3d4-5678-90ab-cdef-111111111111")


class RealtimeApi(Strict):
    """Who may call the decision API, and the web ACL in front of it."""

    allowed_principals: list[Annotated[str, Field(pattern=ROLE_OR_ACCOUNT_PATTERN)]] = Field(
        default_factory=list,
        max_length=50,
        description="The callers the API's resource policy admits: IAM role ARNs of the team's clients "
        "(e.g. the payment gateway's role) and/or 12-digit account ids (any principal of that account "
        "with an IAM allow). Every other caller is denied, even one of the same account. Empty (the "
        "default): principals of the stage's own account only.",
    )
    waf_acl_arn: str | dict[str, str] | None = Field(
        default=None,
        description="A regional AWS WAFv2 web ACL associated with the API's stage: one ARN, or stage → "
        "ARN (a web ACL belongs to one account and region, so a team deploying to several accounts "
        "names one per stage). None: no WAF association (a Firewall Manager policy may still add one).",
    )

    @field_validator("waf_acl_arn")
    @classmethod
    def _web_acl(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        arns = value.values() if isinstance(value, dict) else [value] if value else []
        for arn in arns:
            if not re.match(WEB_ACL_PATTERN, arn):
                raise ValueError(f"got {arn!r}; expected {PATTERN_EXAMPLES[WEB_ACL_PATTERN]}")
        return value

    def web_acl_for(self, stage: str) -> str | None:
        """The web ACL of ``stage``'s API, if any."""
        if isinstance(self.waf_acl_arn, dict):
            return self.waf_acl_arn.get(stage)
        return self.waf_acl_arn



class Shadow(Strict):
    """A challenger decided on every live request off the synchronous path, never acted on."""

    model_version: int | None = Field(
        default=None,
        ge=1,
        description="Version of the team's model package group served as the endpoint's `Shadow` "
        "variant (weight 0: it never receives live traffic) and scored off the synchronous path. "
        "Keep it PendingManualApproval: approving a version deploys it live (`mdlc promote` does that).",
    )
    decision_rules: DecisionRules | None = Field(
        default=None,
        description="Candidate policy (same shape as `decision_rules`) that decides the shadow's "
        "score; none: the live policy.",
    )
    fallback_decision: Decision | None = Field(
        default=None, description="The candidate policy's fallback; none: `realtime.fallback_decision`."
    )
    compare_metric: Literal["pr_auc", "recall", "precision", "amount_saved_share"] = Field(
        default="pr_auc",
        description="What the promote alarm compares once labels arrive: PR-AUC of the scores, "
        "recall or precision of the decisions (not APPROVE = caught), or the share of the fraud "
        "amount caught (needs `schema.amount_column`).",
    )
    promote_margin: float = Field(
        default=0.02,
        gt=0,
        le=1,
        description="The alarm fires when the shadow's compare_metric beats the live one by at "
        "least this much on the same labelled requests.",
    )
    min_labelled: int = Field(
        default=200,
        ge=10,
        description="Labelled requests (with at least one fraud) needed before live and shadow "
        "quality is compared; fewer give no quality metrics and no alarm.",
    )

    @model_validator(mode="after")
    def _challenger(self) -> Shadow:
        if self.model_version is None and self.decision_rules is None:
            raise ValueError(
                "names no challenger; expected model_version (a model package version) and/or "
                "decision_rules (a candidate policy), e.g. shadow: {model_version: 7}"
            )
        return self


class Realtime(Strict):
    enabled: bool = Field(default=True, description="Deploy an endpoint and the decision API.")
    instance_type: str = Field(default="ml.m5.large", pattern=INSTANCE_PATTERN)
    min_capacity: int = Field(default=1, ge=1, le=100)
    max_capacity: int = Field(default=4, ge=1, le=100)
    target_invocations_per_instance: int = Field(default=1000, ge=1)
    canary: Canary = Field(default_factory=Canary)
    serverless: Serverless | None = Field(
        default=None, description="Set for a serverless endpoint (no canary, no autoscaling)."
    )
    data_capture_percent: int = Field(default=20, ge=0, le=100)
    latency_alarm_ms: int = Field(default=100, ge=1)
    fallback_decision: Decision = Field(
        default="REVIEW", description="Decision when the model cannot answer."
    )
    reason_codes: int = Field(
        default=3,
        ge=0,
        le=20,
        description="Reason codes returned and recorded with every decision: the top N "
        "features by absolute contribution to the score (XGBoost `pred_contribs`).",
    )
    reason_method: Literal["approx", "exact"] = Field(
        default="approx",
        description="`approx`: XGBoost's path attribution (`approx_contribs`, the cost of one "
        "predict); `exact`: TreeSHAP (about twice the cost of a predict).",
    )
    api: RealtimeApi = Field(default_factory=RealtimeApi)
    shadow: Shadow | None = Field(
        default=None,
        description="A challenger (model version and/or candidate policy) decided on every live "
        "request asynchronously, recorded beside the live decision, compared by monitoring.",
    )
    api_rate_limit: int = Field(default=200, ge=1, description="Requests per second, steady.")
    api_burst_limit: int = Field(default=400, ge=1)
    decision_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=900,
        description="Opt-in reserved concurrency of the decision-path Lambda (the decision "
        "function); none (the default) reserves nothing. A reservation is taken "
        "from the account's Lambda concurrency quota, of which Lambda keeps 100 unreserved (all "
        "of it when the quota is 100 or less, as in new accounts, whose quota is often 10): the "
        "reservations of every team in an account must fit the quota given to `cdk synth -c "
        "lambda_concurrency_quota=N` (default 1000) less 100, or the synth refuses them.",
    )

    latency_budget_ms: int = Field(
        default=100,
        ge=10,
        le=29_000,
        description="The decision API's p99 goal in milliseconds, as the latency model computes it "
        "from the synthesised templates (`mdlc latency`); the synth refuses a team whose modelled "
        "p99 (or p99 with the endpoint hanging) exceeds it, naming the costliest hops. Also each "
        "request's deadline: the decision function cuts its feature read's and InvokeEndpoint's "
        "timeouts to request time + this − a reserve for what follows the endpoint call.",
    )
    client_timeout_ms: int = Field(
        default=1500,
        ge=1000,
        le=29_000,
        description="How long the team's clients wait for a decision (ms). The API's integration "
        "timeout; the synth refuses a decision path whose worst case before an answer (every "
        "timeout and retry wait on the synchronous path) exceeds it.",
    )
    inference_timeout_ms: int = Field(
        default=60,
        ge=10,
        le=900,
        description="The decision function's longest read timeout for InvokeEndpoint (ms, no retry), "
        "cut to the time the request's deadline leaves (latency_budget_ms): an endpoint slower than "
        "that gives the fallback decision instead of a late answer.",
    )
    provisioned_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=900,
        description="Provisioned concurrency of the decision function (execution environments kept "
        "initialised: no cold start for requests within it; billed while provisioned). None: cold "
        "starts are counted in the latency model at their measured cost.",
    )
    snap_start: bool = Field(
        default=False,
        description="Lambda SnapStart for the decision function (a restored snapshot replaces the "
        "cold start's init; Python 3.12+). Ignored when provisioned_concurrency is set.",
    )

    @model_validator(mode="after")
    def _capacity(self) -> Realtime:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"min_capacity ({self.min_capacity}) must not exceed max_capacity "
                f"({self.max_capacity})"
            )
        return self

    @property
    def reserved_concurrency(self) -> int:
        """Concurrent executions the team's decision path reserves in its account (0: none)."""
        if not self.enabled or self.decision_concurrency is None:
            return 0
        return DECISION_PATH_FUNCTIONS * self.decision_concurrency


#: The decision-path functions that reserve `realtime.decision_concurrency` each.
DECISION_PATH_FUNCTIONS = 1
#: Lambda's default ConcurrentExecutions quota per account and region.
DEFAULT_LAMBDA_CONCURRENCY_QUOTA = 1000
#: What Lambda keeps unreserved: "You can reserve up to the Unreserved account concurrency
#: value minus 100" (docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html);
#: an account whose quota is 100 or less (new accounts: 10 or 50) can reserve nothing, and
#: Lambda names its quota as the minimum ("...below its minimum value of [10]").
LAMBDA_UNRESERVED_MINIMUM = 100


def unreserved_minimum(quota: int) -> int:
    """The concurrency Lambda refuses to let reservations take from an account of ``quota``."""
    return min(LAMBDA_UNRESERVED_MINIMUM, quota)


