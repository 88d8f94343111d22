"""What AWS does between the workflows, which moto does not: alarms and event rules.

moto stores CloudWatch metrics and alarms but never evaluates an alarm, and the harness
does not create EventBridge rules. :class:`OfflineSignals` closes that gap for a deployed
:class:`~mdlc.local.team.LocalTeam`: it evaluates each of the team's alarms on the metric
data in moto (statistic, period, threshold, comparison, missing data as not breaching),
moves it to ALARM or OK with ``SetAlarmState`` and emits the ``CloudWatch Alarm State
Change`` event; it then delivers events to the targets of the synthesised
``AWS::Events::Rule`` resources whose pattern matches (Lambda functions through the
harness' routing, state machines through StartExecution). Scheduled rules fire on demand.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mdlc.names import team_prefix

COMPARE = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class Rule:
    stack: str
    name: str
    pattern: dict[str, Any] | None
    schedule: str | None
    targets: list[tuple[str, str | None]]  # (ARN, Input JSON or None)


def matches(pattern: Any, value: Any) -> bool:
    """EventBridge matching for the pattern forms the templates use (values, nesting)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(p, value.get(k)) for k, p in pattern.items())
    if isinstance(value, list):
        return any(v in pattern for v in value)
    return value in pattern


class OfflineSignals:
    """Alarm evaluation and event delivery for one deployed LocalTeam."""

    def __init__(self, team: Any) -> None:
        self.team = team
        self.target_roles: dict[str, str] = {}
        self.rules = self._rules()
        self.delivered: list[dict[str, Any]] = []

    def _rules(self) -> list[Rule]:
        rules = []
        for stack in self.team.stacks:
            for logical_id, res in self.team.assembly.template(stack)["Resources"].items():
                if res["Type"] != "AWS::Events::Rule":
                    continue
                props = res["Properties"]
                targets = [(self._arn(stack, t["Arn"]), t.get("Input")) for t in props.get("Targets", [])]
                for t in props.get("Targets", []):
                    if t.get("RoleArn"):  # EventBridge calls the target as this role
                        self.target_roles[self._arn(stack, t["Arn"])] = self._arn(stack, t["RoleArn"])
                rules.append(Rule(stack, props.get("Name", logical_id), props.get("EventPattern"),
                                  props.get("ScheduleExpression"), targets))
        return rules

    def _arn(self, stack: str, value: Any) -> str:
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return self.team.resources.resource(value["Fn::GetAtt"][0], stack).attributes["Arn"]
        if isinstance(value, dict) and "Ref" in value:
            return self.team.resources.resource(value["Ref"], stack).ref
        if isinstance(value, str):
            return value
        raise ValueError(f"{stack}: rule target {value!r} cannot be resolved offline")

    # ------------------------------------------------------------------ alarms
    def evaluate_alarms(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Evaluate the team's alarms; return the state-change events (ALARM and OK)."""
        now = now or datetime.now(UTC)
        cw = self.team.client("cloudwatch")
        changes = []
        for alarm in cw.describe_alarms(AlarmNamePrefix=team_prefix(self.team.name))["MetricAlarms"]:
            if "Statistic" not in alarm or "MetricName" not in alarm:
                continue  # percentile and metric-math alarms (serving SLOs) are not evaluated offline
            value = self._latest(cw, alarm, now)
            breaching = value is not None and COMPARE[alarm["ComparisonOperator"]](value, alarm["Threshold"])
            state = "ALARM" if breaching else "OK"
            if state == alarm["StateValue"]:
                continue
            reason = (f"Threshold crossed: latest {alarm['Statistic']} {value} vs threshold {alarm['Threshold']}"
                      if value is not None else "no data (treated as not breaching)")
            cw.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=state, StateReason=reason)
            changes.append(self._alarm_event(alarm, state, reason, now))
        return changes

    @staticmethod
    def _latest(cw: Any, alarm: dict[str, Any], now: datetime) -> float | None:
        period = int(alarm["Period"])
        start = now - timedelta(seconds=period * int(alarm.get("EvaluationPeriods", 1)))
        points = cw.get_metric_statistics(
            Namespace=alarm["Namespace"], MetricName=alarm["MetricName"], Dimensions=alarm.get("Dimensions", []),
            StartTime=start, EndTime=now + timedelta(minutes=1), Period=period, Statistics=[alarm["Statistic"]],
        )["Datapoints"]
        if not points:
            return None
        return float(max(points, key=lambda p: p["Timestamp"])[alarm["Statistic"]])

    def _alarm_event(self, alarm: dict[str, Any], state: str, reason: str, now: datetime) -> dict[str, Any]:
        return {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch", "account": self.team.aws.account_id, "time": now.isoformat(),
            "region": self.team.region, "resources": [alarm["AlarmArn"]],
            "detail": {
                "alarmName": alarm["AlarmName"],
                "state": {"value": state, "reason": reason, "timestamp": now.isoformat()},
                "previousState": {"value": alarm["StateValue"]},
                "configuration": {"metrics": [{"metricStat": {
                    "metric": {"namespace": alarm["Namespace"], "name": alarm["MetricName"],
                               "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}},
                    "stat": alarm["Statistic"], "period": alarm["Period"]}}]},
            },
        }

    # ------------------------------------------------------------------ events
    def deliver(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Send ``event`` to every matching rule's targets; returns what each target answered."""
        answers = []
        for rule in self.rules:
            if rule.pattern and matches(rule.pattern, event):
                answers += [self._send(rule, arn, event if text is None else json.loads(text))
                            for arn, text in rule.targets]
        return answers

    def fire_schedule(self, rule_name: str) -> list[dict[str, Any]]:
        """What EventBridge does when a scheduled rule's time comes."""
        rule = next((r for r in self.rules if r.name == rule_name), None)
        if rule is None or not rule.schedule:
            raise KeyError(f"no scheduled rule {rule_name!r}; scheduled: "
                           f"{[r.name for r in self.rules if r.schedule]}")
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                 "source": "aws.events", "time": datetime.now(UTC).isoformat(), "region": self.team.region,
                 "resources": [f"arn:aws:events:{self.team.region}:{self.team.aws.account_id}:rule/{rule.name}"],
                 "detail": {}}
        return [self._send(rule, arn, event if text is None else json.loads(text)) for arn, text in rule.targets]

    def _client_for(self, target: str, service: str) -> Any:
        """A client acting as the target's role (IAM evaluated), else the test driver's."""
        role, iam = self.target_roles.get(target), getattr(self.team.aws, "iam", None)
        if role and iam is not None:
            return iam.client(service, role)
        return self.team.client(service)

    def _send(self, rule: Rule, arn: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.delivered.append({"rule": rule.name, "target": arn, "event": payload})
        if ":lambda:" in arn:
            out = self.team.client("lambda").invoke(FunctionName=arn, Payload=json.dumps(payload).encode())
            body = out["Payload"].read()
            if out.get("FunctionError"):
                raise RuntimeError(f"{rule.name} → {arn} failed: {body[:500]!r}")
            return {"rule": rule.name, "target": arn, "result": json.loads(body or b"null")}
        if ":states:" in arn:
            # EventBridge names the execution itself (a UUID); moto needs a name given.
            started = self._client_for(arn, "stepfunctions").start_execution(
                stateMachineArn=arn, name=str(uuid.uuid4()), input=json.dumps(payload))
            return {"rule": rule.name, "target": arn, "result": {"executionArn": started["executionArn"]}}
        raise ValueError(f"rule {rule.name}: target {arn} is not a Lambda function or state machine")
