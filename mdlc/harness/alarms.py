"""CloudWatch alarm actions, executed offline as CloudWatch executes them.

moto stores an alarm's actions but never runs them, so an alarm whose notification AWS
would refuse (a topic policy that does not allow CloudWatch, a key policy that does not
let it use the topic's key) looked fine offline. Here every state change of an alarm, by
``SetAlarmState`` or by the harness' own alarm evaluation (`mdlc.local.signals`), runs the
actions of the new state (``AlarmActions``, ``OKActions``, ``InsufficientDataActions``,
when ``ActionsEnabled``), as CloudWatch does on a state transition:

- an SNS action publishes the alarm's notification (CloudWatch's JSON message and subject)
  as the service principal ``cloudwatch.amazonaws.com``, with ``aws:SourceArn`` = the alarm's
  ARN and ``aws:SourceAccount``: the topic's policy must allow ``sns:Publish`` (moto's
  default topic policy when the template sets none) and, for a KMS topic, the key policy
  must allow ``kms:GenerateDataKey*`` and ``kms:Decrypt`` (`service_principals`). Allowed:
  moto's SNS delivers it to the topic's subscriptions (SQS, Lambda, HTTP; an email
  subscription receives nothing in moto, so `AlarmActions.notifications` records who it
  was delivered to). Refused: nothing is delivered;
- every state change and every action is written to the alarm's history, with CloudWatch's
  texts ("Successfully executed action …", "Failed to execute action … Received error: …"),
  answered by ``DescribeAlarmHistory`` (moto lacks it);
- other action kinds (Auto Scaling, EC2, Lambda, Systems Manager) are not executed: they
  are listed in `AlarmActions.not_executed`.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mdlc.harness import iam
from mdlc.harness.service_principals import key_allows, service_allowed

if TYPE_CHECKING:
    from mdlc.harness.iam import IamEvaluator

SERVICE = "cloudwatch.amazonaws.com"
_KEY_ERROR = "CloudWatch Alarms does not have authorization to access the SNS topic encryption key."


@dataclass
class Notification:
    """One alarm notification CloudWatch published to a topic, and who it reached."""

    alarm: str
    topic: str
    subject: str
    message: dict[str, Any]
    subscribers: list[tuple[str, str]] = field(default_factory=list)  # (protocol, endpoint)


class AlarmActions:
    """Runs alarm actions on state changes; keeps each alarm's history and what was delivered."""

    def __init__(self, evaluator: IamEvaluator | None) -> None:
        self.iam = evaluator  # None: IAM not evaluated (adapter unit tests): every action is allowed
        self.notifications: list[Notification] = []
        self.not_executed: list[tuple[str, str]] = []  # (alarm name, action ARN)
        self._history: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()

    # -- what tests read -------------------------------------------------------------------
    def delivered_to(self, topic_arn: str) -> list[Notification]:
        """The notifications published to `topic_arn`, oldest first."""
        return [n for n in self.notifications if n.topic == topic_arn]

    def history(self, account: str, region: str, alarm_name: str) -> list[dict[str, Any]]:
        """The alarm's history items (AlarmHistoryItem shape), oldest first."""
        return list(self._history[(account, region, alarm_name)])

    # -- CloudWatch's side -----------------------------------------------------------------
    def state_changed(self, backend: Any, alarm: Any, old_state: str, old_reason: str) -> None:
        """`alarm` (moto's) moved from `old_state` to its current state: record it, run the actions."""
        now = datetime.now(UTC)
        self._add(backend, alarm.name, now, "StateUpdate", f"Alarm updated from {old_state} to {alarm.state_value}",
                  {"version": "1.0", "oldState": {"stateValue": old_state, "stateReason": old_reason},
                   "newState": {"stateValue": alarm.state_value, "stateReason": alarm.state_reason}})
        if not alarm.actions_enabled:
            return
        actions = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions,
                   "INSUFFICIENT_DATA": alarm.insufficient_data_actions}[alarm.state_value]
        for action in actions or []:
            if action.startswith("arn:aws:sns:"):
                self._notify(backend, alarm, action, old_state, now)
            else:
                with self._lock:
                    self.not_executed.append((alarm.name, action))

    def _notify(self, backend: Any, alarm: Any, topic: str, old_state: str, now: datetime) -> None:
        account, region = backend.account_id, backend.region_name
        error = self._refusal(account, region, alarm.alarm_arn, topic)
        if error is None:
            message = _message(alarm, old_state, now, account, region)
            subject = f'{alarm.state_value}: "{alarm.name}" in {_region_name(region)}'[:100]
            try:
                subscribers = _publish(account, region, topic, json.dumps(message), subject)
            except Exception as failure:  # noqa: BLE001 - CloudWatch records any delivery error in the history
                error = str(failure) or type(failure).__name__
            else:
                with self._lock:
                    self.notifications.append(Notification(alarm.name, topic, subject, message, subscribers))
                self._add(backend, alarm.name, now, "Action", f"Successfully executed action {topic}",
                          {"actionState": "Succeeded", "notificationResource": topic,
                           "stateUpdateTimestamp": int(now.timestamp() * 1000),
                           "publishedMessage": json.dumps(message)})
                return
        self._add(backend, alarm.name, now, "Action", f'Failed to execute action {topic}. Received error: "{error}"',
                  {"actionState": "Failed", "notificationResource": topic,
                   "stateUpdateTimestamp": int(now.timestamp() * 1000), "error": error})

    def _refusal(self, account: str, region: str, alarm_arn: str, topic: str) -> str | None:
        """CloudWatch's error text when the topic or key policy refuses it, else None."""
        if self.iam is None:
            return None
        context = {"aws:sourcearn": alarm_arn, "aws:sourceaccount": account, "aws:sourceowner": account,
                   "aws:securetransport": "true"}
        documents = self.iam.resource_policies.get(topic) or _moto_topic_policy(account, region, topic)
        allowed, reason = service_allowed(documents, SERVICE, "sns:Publish", topic, context)
        self._record("sns:Publish", topic, allowed, reason)
        if not allowed:
            return f"Resource: {alarm_arn} is not authorized to perform: SNS:Publish on resource: {topic}"
        key = self.iam.topic_keys.get(topic)
        for action in ("kms:GenerateDataKey", "kms:Decrypt") if key else ():
            allowed, reason = key_allows(self.iam, SERVICE, key, [action],
                                         {**context, "kms:viaservice": f"sns.{region}.amazonaws.com"})
            self._record(action, key, allowed, reason)
            if not allowed:
                return _KEY_ERROR
        return None

    def _record(self, action: str, resource: str, allowed: bool, reason: str) -> None:
        assert self.iam is not None
        with self.iam._lock:  # the evaluator's decision log (`mdlc local iam-report`, `denied()`)
            self.iam.decisions.append(iam.Decision(SERVICE, action, resource, allowed, reason))

    def _add(self, backend: Any, alarm: str, when: datetime, kind: str, summary: str, data: dict) -> None:
        with self._lock:
            self._history[(backend.account_id, backend.region_name, alarm)].append({
                "AlarmName": alarm, "AlarmType": "MetricAlarm", "Timestamp": when, "HistoryItemType": kind,
                "HistorySummary": summary, "HistoryData": json.dumps(data)})


# -- SNS and the message ---------------------------------------------------------------------
def _moto_topic_policy(account: str, region: str, topic: str) -> list[str]:
    """The policy moto holds for the topic: SNS's default (the account's principals, services
    included, by ``AWS:SourceOwner``) unless something set another."""
    from moto.sns.models import sns_backends

    found = sns_backends[account][region].topics.get(topic)
    return [found.policy] if found is not None else []


def _publish(account: str, region: str, topic: str, message: str, subject: str) -> list[tuple[str, str]]:
    """Publish through moto's SNS backend (it delivers to SQS, Lambda, HTTP subscriptions);
    returns the subscriptions it went to."""
    from moto.sns.models import sns_backends

    backend = sns_backends[account][region]
    backend.publish(message, arn=topic, subject=subject)
    subscriptions, _ = backend.list_subscriptions_by_topic(topic_arn=topic)
    return [(s.protocol, s.endpoint) for s in subscriptions]


def _region_name(region: str) -> str:
    """The region's long name, as CloudWatch writes it in the subject (botocore's endpoint data)."""
    from mdlc.harness import reuse

    for partition in reuse.botocore_session().get_data("endpoints")["partitions"]:
        description = partition.get("regions", {}).get(region, {}).get("description")
        if description:
            return description
    return region


def _message(alarm: Any, old_state: str, now: datetime, account: str, region: str) -> dict[str, Any]:
    """CloudWatch's notification for a metric alarm (the JSON an SNS subscriber receives)."""
    return {
        "AlarmName": alarm.name, "AlarmDescription": alarm.description, "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": _time(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value, "NewStateReason": alarm.state_reason, "StateChangeTime": _time(now),
        "Region": _region_name(region), "AlarmArn": alarm.alarm_arn, "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions), "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": {
            "MetricName": alarm.metric_name, "Namespace": alarm.namespace,
            "StatisticType": "ExtendedStatistic" if alarm.extended_statistic else "Statistic",
            "Statistic": (alarm.statistic or "").upper() or None, "Unit": alarm.unit,
            "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
            "Period": alarm.period, "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm, "ComparisonOperator": alarm.comparison_operator,
            "Threshold": alarm.threshold, "TreatMissingData": alarm.treat_missing_data or "",
            "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
        },
    }


def _time(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


# -- moto patches ----------------------------------------------------------------------------
def make_set_alarm_state_patch(actions: AlarmActions, original: Callable) -> Callable:
    """`CloudWatchBackend.set_alarm_state`: after moto changed the state, run the new state's actions."""

    def set_alarm_state(self, alarm_name, reason, reason_data, state_value):  # type: ignore[no-untyped-def]
        alarm = self.alarms.get(alarm_name)
        old_state, old_reason = (alarm.state_value, alarm.state_reason) if alarm is not None else (None, "")
        original(self, alarm_name, reason, reason_data, state_value)
        if old_state is not None and old_state != state_value:
            actions.state_changed(self, self.alarms[alarm_name], old_state, old_reason)

    return set_alarm_state


def make_describe_alarm_history_response(actions: AlarmActions) -> Callable:
    """`CloudWatchResponse.describe_alarm_history` (moto lacks it), from the recorded history."""
    from moto.core.responses import ActionResult

    def describe_alarm_history(self):  # type: ignore[no-untyped-def]
        name, kind = self._get_param("AlarmName"), self._get_param("HistoryItemType")
        start, end = self._get_param("StartDate"), self._get_param("EndDate")
        items = [item for item in actions.history(self.current_account, self.region, name)
                 if kind in (None, item["HistoryItemType"])
                 and (start is None or item["Timestamp"] >= _aware(start))
                 and (end is None or item["Timestamp"] <= _aware(end))] if name else []
        if self._get_param("ScanBy", "TimestampDescending") == "TimestampDescending":
            items.reverse()
        return ActionResult({"AlarmHistoryItems": items[: int(self._get_param("MaxRecords") or 100)]})

    return describe_alarm_history


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def patches(actions: AlarmActions) -> list[Any]:
    """The moto internals replaced to execute alarm actions (see README.md)."""
    from unittest import mock

    from moto.cloudwatch.models import CloudWatchBackend
    from moto.cloudwatch.responses import CloudWatchResponse

    return [
        mock.patch.object(CloudWatchBackend, "set_alarm_state",
                          make_set_alarm_state_patch(actions, CloudWatchBackend.set_alarm_state)),
        mock.patch.object(CloudWatchResponse, "describe_alarm_history",
                          make_describe_alarm_history_response(actions), create=True),
    ]
