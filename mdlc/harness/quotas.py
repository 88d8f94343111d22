"""Account limits: the service quotas AWS enforces when the team's stacks deploy, as a profile.

moto enforces none of them (its Lambda reservation check is off unless an environment
variable is set, and then keeps 100 unreserved whatever the quota), so a template that
cannot deploy into the account it is meant for deployed offline. ``OfflineAws(quotas=...)``
takes a profile; the default, ``NEW_ACCOUNT``, is what a freshly created account gets, so
a default team is tested against the smallest account it must deploy into.

What is checked, and where AWS checks it:

- Lambda reserved concurrency (quota ``ConcurrentExecutions``, L-B99A9384; 1,000 by default,
  new accounts often 10 or 50): ``PutFunctionConcurrency`` — which CloudFormation calls for
  ``ReservedConcurrentExecutions`` — is refused when the reservations would leave less than
  ``min(100, quota)`` unreserved, with Lambda's own message
  (docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html: "You can reserve up
  to the Unreserved account concurrency value minus 100"; a quota-10 account answers
  "...below its minimum value of [10]").
- Per-account counts of what the templates create, over every stack deployed into the
  harness: IAM roles (1,000, docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html),
  EventBridge event buses (100) and rules per event bus (300; 100 in af-south-1 and
  eu-south-1; docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html), Kinesis
  streams in on-demand mode (50, docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html).
- CloudFormation: 500 resources per template
  (docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).

Not checked: the resources of other applications in the account (the harness counts only
what it deployed), SageMaker's per-instance-type quotas (their applied values differ per
account and per instance type, and new accounts often have 0 for GPU types: request them
before the first run), run-time rates (API throttling, Lambda burst scaling), and resources
whose default quotas are in the thousands per account and region (DynamoDB tables, state
machines, alarms, SNS topics, SQS queues, KMS keys, log groups, S3 buckets).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException

from mdlc.contract import DEFAULT_LAMBDA_CONCURRENCY_QUOTA, unreserved_minimum
from mdlc.harness.intrinsics import TemplateError

#: Regions where EventBridge allows 100 rules per bus instead of 300.
_SMALL_RULE_REGIONS = ("af-south-1", "eu-south-1")


@dataclass(frozen=True)
class AccountQuotas:
    """The quotas of one kind of account that the harness enforces at deploy (see module doc)."""

    name: str
    lambda_concurrent_executions: int
    iam_roles: int = 1000
    event_buses: int = 100
    rules_per_event_bus: int = 300
    kinesis_on_demand_streams: int = 50
    resources_per_template: int = 500

    def with_lambda_concurrency(self, quota: int) -> AccountQuotas:
        """The same account after a Lambda concurrency increase to ``quota``."""
        return replace(self, name=f"{self.name}, Lambda concurrency {quota}", lambda_concurrent_executions=quota)

    def rules_per_bus(self, region: str) -> int:
        return min(self.rules_per_event_bus, 100) if region in _SMALL_RULE_REGIONS else self.rules_per_event_bus


#: A freshly created account: Lambda concurrency quota 10 (so no reservation at all is
#: possible), every other quota at its documented default.
NEW_ACCOUNT = AccountQuotas("new account", lambda_concurrent_executions=10)
#: An established account with the documented defaults (Lambda concurrency 1,000).
DEFAULT_ACCOUNT = AccountQuotas("default account", lambda_concurrent_executions=DEFAULT_LAMBDA_CONCURRENCY_QUOTA)


def profile_for(reserved_concurrency: int) -> AccountQuotas:
    """The account a team is tested against: a new one, unless the team reserves Lambda
    concurrency (opt-in), which no new account allows: then one with the default quota."""
    if reserved_concurrency == 0:
        return NEW_ACCOUNT
    return NEW_ACCOUNT.with_lambda_concurrency(DEFAULT_LAMBDA_CONCURRENCY_QUOTA)


class QuotaExceeded(TemplateError):
    """A deploy that the account's quotas refuse (as CloudFormation's CREATE_FAILED)."""


def reservation_refusal(quota: int) -> str:
    """Lambda's message for a reservation that leaves too little unreserved."""
    return ("Specified ReservedConcurrentExecutions for function decreases account's "
            f"UnreservedConcurrentExecution below its minimum value of [{unreserved_minimum(quota)}].")


def make_put_function_concurrency(quotas: AccountQuotas) -> Callable[..., Any]:
    """``LambdaBackend.put_function_concurrency`` with the profile's quota and Lambda's minimum."""

    def put_function_concurrency(backend: Any, function_name: str, reserved_concurrency: Any) -> Any:
        function = backend.get_function(function_name)
        quota = quotas.lambda_concurrent_executions
        others = sum(int(f.reserved_concurrency) for f in backend.list_functions()
                     if f.reserved_concurrency and f.function_name != function.function_name)
        if quota - others - int(reserved_concurrency) < unreserved_minimum(quota):
            raise InvalidParameterValueException(reservation_refusal(quota))
        function.reserved_concurrency = reserved_concurrency
        return function.reserved_concurrency

    return put_function_concurrency


#: Resource types whose count per account (or per bus, per mode) a quota limits.
COUNTED_TYPES = frozenset({"AWS::IAM::Role", "AWS::Events::EventBus", "AWS::Events::Rule", "AWS::Kinesis::Stream"})


class QuotaLedger:
    """Counts what the deployed templates create in the account and refuses what exceeds a quota."""

    def __init__(self, quotas: AccountQuotas, region: str) -> None:
        self.quotas = quotas
        self.region = region
        self.counts: Counter[str] = Counter()

    def check_template(self, stack: str, template: dict) -> None:
        count, limit = len(template.get("Resources") or {}), self.quotas.resources_per_template
        if count > limit:
            raise QuotaExceeded(f"{stack}: template has {count} resources; CloudFormation allows {limit} "
                                "per template (split the stack)")

    def admit(self, stack: str, logical_id: str, kind: str, props: dict) -> None:
        """Count the resource about to be created; raise QuotaExceeded past its quota."""
        counted = self._quota_of(kind, props)
        if counted is None:
            return
        key, what, limit = counted
        if self.counts[key] + 1 > limit:
            raise QuotaExceeded(
                f"{stack}/{logical_id} ({kind}) CREATE_FAILED: the account's quota of {limit} {what} is "
                f"used up ({self.counts[key]} deployed; profile '{self.quotas.name}'); request an increase "
                "in Service Quotas before deploying")
        self.counts[key] += 1

    def _quota_of(self, kind: str, props: dict) -> tuple[str, str, int] | None:
        q = self.quotas
        if kind == "AWS::IAM::Role":
            return kind, "IAM roles", q.iam_roles
        if kind == "AWS::Events::EventBus":
            return kind, "EventBridge event buses", q.event_buses
        if kind == "AWS::Events::Rule":
            bus = str(props.get("EventBusName") or "default").rsplit("/", 1)[-1]
            return f"{kind}/{bus}", f"EventBridge rules on event bus {bus!r}", q.rules_per_bus(self.region)
        if kind == "AWS::Kinesis::Stream" and (props.get("StreamModeDetails") or {}).get("StreamMode") == "ON_DEMAND":
            return f"{kind}/ON_DEMAND", "Kinesis data streams in on-demand mode", q.kinesis_on_demand_streams
        return None
