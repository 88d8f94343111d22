"""Every metric a dashboard widget or an alarm reads is emitted by some code path (product).

For every team in models/ and the generated second team (batch only): the metrics the
synthesised dashboards and alarms read (explicit metrics, metric-math inputs and SEARCH
expressions) are matched by namespace,
metric name, dimension names and dimension values against what is emitted:

* the team's own namespace: the EMF the real decision function prints (loaded with its
  function's environment from the template) and the datums publish_monitoring_metrics
  builds from a complete monitoring report;
* the feature pipeline's: the EMF the real consume_events and publish_reconciliation
  handlers print on their sample events (event.json), with moto behind them;
* AWS namespaces: the metrics AWS emits for the resources the templates create (state
  machines, queues, stream event source mappings) and for the endpoint the deployment
  workflow creates.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mdlc.contract import REPO_ROOT, load_team, runtime_spec, team_files
from mdlc.harness.lambdas import LambdaContext
from stacks.realtime.names import VARIANT, endpoint_name
from tests.second_team import NAME as SECOND_TEAM

TEAMS = sorted({path.stem for path in team_files()} | {SECOND_TEAM})
ANY = None  # an emitted dimension whose value is any (e.g. one datum per feature)

#: What AWS emits per resource (namespace → dimension names, metric names).
AWS_METRICS = {
    "AWS/States": (("StateMachineArn",), {"ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed",
                                          "ExecutionsAborted", "ExecutionsTimedOut", "ExecutionTime",
                                          "ExecutionThrottled"}),
    "AWS/SageMaker": (("EndpointName", "VariantName"), {"Invocations", "Invocation4XXErrors", "Invocation5XXErrors",
                                                        "ModelLatency", "OverheadLatency", "InvocationsPerInstance"}),
    "AWS/SQS": (("QueueName",), {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage",
                                 "NumberOfMessagesSent", "NumberOfMessagesReceived"}),
    # Lambda emits IteratorAge for a function read by a stream (Kinesis, DynamoDB) event source mapping.
    "AWS/Lambda": (("FunctionName",), {"IteratorAge"}),
}
SERVERLESS_ONLY = {"ModelSetupTime"}  # SageMaker emits it for serverless endpoints only


@dataclass(frozen=True)
class Emitted:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str | None], ...]

    def dims(self) -> dict[str, str | None]:
        return dict(self.dimensions)


@dataclass(frozen=True)
class Read:
    """A metric a widget or alarm reads; ``exact`` False for SEARCH (filters on some dimensions)."""

    where: str
    namespace: str
    name: str
    dimensions: dict[str, str | None]
    exact: bool = True

    def found_in(self, emitted: set[Emitted]) -> bool:
        for e in emitted:
            dims = e.dims()
            if (e.namespace, e.name) != (self.namespace, self.name) or set(dims) != set(self.dimensions):
                continue
            if all(v is None or dims[k] is ANY or _same(dims[k], v) for k, v in self.dimensions.items()):
                return True
        return False


def _same(emitted: str, read: str) -> bool:
    return _normal(emitted) == _normal(read)


def _normal(value: str) -> str:
    """State machine ARNs compare by name (account and region are tokens in templates)."""
    return value.rsplit("stateMachine:", 1)[-1] if "stateMachine:" in value else value


# ------------------------------------------------------------------------ templates
def team_templates(assembly, team: str) -> dict[str, dict]:
    return {name: t for name, t in assembly.templates.items() if name.startswith(f"{team}-")
            and not name.endswith("-pipeline")}


def _resolve(value: Any, resources: dict[str, Any]) -> Any:
    """Enough of CloudFormation's intrinsics to read metric dimensions and dashboard bodies."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            res = resources.get(arg)
            if res and res["Type"] == "AWS::StepFunctions::StateMachine":
                return f"arn:aws:states:REGION:ACCOUNT:stateMachine:{res['Properties']['StateMachineName']}"
            return {"AWS::Region": "REGION", "AWS::AccountId": "ACCOUNT", "AWS::Partition": "aws",
                    "AWS::URLSuffix": "amazonaws.com"}.get(arg, f"REF:{arg}")
        if key == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            props = resources.get(logical, {}).get("Properties", {})
            return props.get(attribute) or props.get("QueueName" if attribute == "QueueName" else attribute,
                                                       f"ATT:{logical}.{attribute}")
        if key == "Fn::Join":
            sep, parts = arg
            return sep.join(str(_resolve(p, resources)) for p in parts)
    if isinstance(value, list):
        return [_resolve(v, resources) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, resources) for k, v in value.items()}
    return value


SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}(.*?)',")
TERM = re.compile(r'(\w+)="([^"]*)"|(\w+)=(\S+)')


def reads(assembly, team: str) -> list[Read]:
    """Every metric read by the team's dashboards and alarms."""
    out: list[Read] = []
    for stack, template in team_templates(assembly, team).items():
        resources = template["Resources"]
        for lid, res in resources.items():
            props = res.get("Properties", {})
            if res["Type"] == "AWS::CloudWatch::Dashboard":
                body = json.loads(_resolve(props["DashboardBody"], resources))
                for widget in body["widgets"]:
                    for line in (widget.get("properties") or {}).get("metrics", []):
                        out += _widget_reads(f"{stack}/{lid}: {widget['properties'].get('title')}", line)
            elif res["Type"] == "AWS::CloudWatch::Alarm":
                props = _resolve(props, resources)
                if "MetricName" in props:
                    out.append(Read(f"{stack}/{props.get('AlarmName')}", props["Namespace"], props["MetricName"],
                                    {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}))
                for query in props.get("Metrics", []):
                    metric = (query.get("MetricStat") or {}).get("Metric")
                    if metric:
                        out.append(Read(f"{stack}/{props.get('AlarmName')}", metric["Namespace"],
                                        metric["MetricName"],
                                        {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}))
    return out


def _widget_reads(where: str, line: list) -> list[Read]:
    if line and isinstance(line[0], dict):  # an expression
        found = SEARCH.search(line[0].get("expression", ""))
        if not found:
            return []
        schema = [s.strip() for s in found.group(1).split(",")]
        terms = {(m.group(1) or m.group(3)): (m.group(2) or m.group(4)) for m in TERM.finditer(found.group(2))}
        name = terms.pop("MetricName")
        dims: dict[str, str | None] = dict.fromkeys(schema[1:])
        unknown = set(terms) - set(dims)
        assert not unknown, f"{where}: SEARCH filters on {unknown}, not in its schema {schema}"
        dims.update(terms)
        return [Read(where, schema[0], name, dims, exact=False)]
    values = [v for v in line if not isinstance(v, dict)]
    namespace, name, pairs = values[0], values[1], values[2:]
    return [Read(where, namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True)))]


# ------------------------------------------------------------------------- emitted
def emitted_by_aws(assembly, team: str, team_dir: Path) -> set[Emitted]:
    spec = load_team(team_dir / f"{team}.yaml")
    out: set[Emitted] = set()
    for template in team_templates(assembly, team).values():
        for res in template["Resources"].values():
            props = res.get("Properties", {})
            if res["Type"] == "AWS::StepFunctions::StateMachine":
                _add_aws(out, "AWS/States", (f"stateMachine:{props['StateMachineName']}",))
            elif res["Type"] == "AWS::SQS::Queue" and "QueueName" in props:
                _add_aws(out, "AWS/SQS", (props["QueueName"],))
            elif res["Type"] == "AWS::Lambda::EventSourceMapping" and _reads_a_stream(props, template["Resources"]):
                _add_aws(out, "AWS/Lambda", (_resolve(props["FunctionName"], template["Resources"]),))
    if spec.realtime.enabled:  # the deployment workflow creates the endpoint, with its one variant
        _add_aws(out, "AWS/SageMaker", (endpoint_name(team), VARIANT),
                 extra=SERVERLESS_ONLY if spec.realtime.serverless else set())
    return out


def _reads_a_stream(mapping: dict[str, Any], resources: dict[str, Any]) -> bool:
    """Whether an event source mapping reads a Kinesis or DynamoDB stream (not a queue)."""
    source = mapping.get("EventSourceArn")
    if isinstance(source, dict) and "Fn::GetAtt" in source:
        logical, attribute = source["Fn::GetAtt"]
        kind = resources.get(logical, {}).get("Type")
        return kind == "AWS::Kinesis::Stream" or (kind == "AWS::DynamoDB::Table" and attribute == "StreamArn")
    return isinstance(source, str) and (":kinesis:" in source or "/stream/" in source)


def _add_aws(out: set[Emitted], namespace: str, values: tuple[str, ...], extra: set[str] | None = None) -> None:
    names, metrics = AWS_METRICS[namespace]
    for metric in metrics | (extra or set()):
        out.add(Emitted(namespace, metric, tuple(zip(names, values, strict=True))))


def function_env(assembly, team: str, handler_suffix: str) -> tuple[str, dict[str, str]] | None:
    """(Handler, environment variables) of the team's function whose handler ends with ``handler_suffix``."""
    for template in team_templates(assembly, team).values():
        for res in template["Resources"].values():
            props = res.get("Properties", {})
            if res["Type"] == "AWS::Lambda::Function" and props.get("Handler", "").endswith(handler_suffix):
                variables = (props.get("Environment") or {}).get("Variables") or {}
                return props["Handler"], {k: v for k, v in variables.items() if isinstance(v, str)}
    return None


def load_handler_module(handler: str) -> Any:
    path = REPO_ROOT / Path(*handler.split(".")[:-1]).with_suffix(".py")
    spec = importlib.util.spec_from_file_location(f"metrics_check_{uuid.uuid4().hex[:8]}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def emitted_by_rules(assembly, team: str, team_dir: Path, monkeypatch, capsys) -> set[Emitted]:
    """Run the team's real decision function (its template environment) and read its EMF: one
    request decided with each score band's score and once with the endpoint failing."""
    found = function_env(assembly, team, "decide.handler.handler")
    if found is None:
        return set()
    handler, variables = found
    # A budget no stall of a shared test machine reaches: this test is about metrics, not the deadline.
    for key, value in {**variables, "POWERTOOLS_TRACE_DISABLED": "true", "DEADLINE_BUDGET_MS": "60000",
                       "MDLC_TEAM_SPEC_FILE": str(assembly.outdir / "build" / team / "config" / "team.json"),
                       "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(key, value)
    module = load_handler_module(handler)
    spec = runtime_spec(load_team(team_dir / f"{team}.yaml"))

    class InMemory:
        """The decision's three calls without AWS: no online item, a fixed model answer, a log."""

        def __init__(self, answer: Any) -> None:
            self.answer, self.log = answer, self

        def read_items(self, keys: dict[str, str], timeout_ms: int | None = None) -> dict[str, Any]:
            return {}

        def invoke(self, features: dict[str, Any], inference_id: str, timeout_ms: int | None = None) -> bytes:
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

        def record(self, item: dict[str, Any]) -> bool:
            return True

    bands = spec["decision_rules"]["score_bands"]
    scores = (0.0, (bands["approve_below"] + bands["decline_at_or_above"]) / 2, 1.0)
    answers = [json.dumps({"model_version": "v1", "predictions": [{"score": s}]}).encode() for s in scores]
    capsys.readouterr()
    for i, answer in enumerate([*answers, RuntimeError("endpoint down")]):
        monkeypatch.setattr(module, "_io", InMemory(answer))
        context = LambdaContext(function_name=variables.get("POWERTOOLS_SERVICE_NAME", "decide"),
                                invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:decide")
        out = module.handler({"body": valid_request(spec, f"r-{i}")}, context)
        assert out["status"] == 200, out
    return emf(capsys.readouterr().out)


def valid_request(spec: dict[str, Any], request_id: str) -> dict[str, Any]:
    """A request any team's API model accepts: every required field at its least value."""
    from lambdas.shared.decision_request import request_schema

    schema = request_schema(spec)
    body: dict[str, Any] = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        kinds = prop.get("type")
        kind = next((k for k in kinds if k != "null"), "string") if isinstance(kinds, list) else kinds
        if "enum" in prop:
            body[name] = next(v for v in prop["enum"] if v is not None)
        elif kind in ("number", "integer"):
            body[name] = prop.get("minimum", 1)
        elif kind == "boolean":
            body[name] = False
        elif name == spec["schema"]["timestamp_column"]:
            body[name] = "2026-03-02T14:30:00Z"
        else:
            body[name] = f"x-{name}"[: prop.get("maxLength", 64)]
    return {**body, "request_id": request_id}


def emf(output: str) -> set[Emitted]:
    """The metrics of every CloudWatch embedded-metric-format line in ``output``."""
    out: set[Emitted] = set()
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    out.add(Emitted(directive["Namespace"], metric["Name"],
                                    tuple(sorted((d, blob[d]) for d in dimension_set))))
    return out


def emitted_by_features(assembly, team: str, team_dir: Path, monkeypatch, capsys) -> set[Emitted]:
    """Run the team's real stream consumer and reconciliation publisher (their template
    environment, their sample events; moto for the table, bucket and parameter) and read their EMF."""
    from moto import mock_aws

    out: set[Emitted] = set()
    spec = runtime_spec(load_team(team_dir / f"{team}.yaml"))
    for handler_name in ("consume_events", "publish_reconciliation"):
        found = function_env(assembly, team, f"{handler_name}.handler.handler")
        if found is None:
            continue
        handler, variables = found
        for key, value in {**variables, "POWERTOOLS_TRACE_DISABLED": "true",
                           "MDLC_TEAM_SPEC_FILE": str(assembly.outdir / "build" / team / "config" / "team.json"),
                           "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing", "FEATURE_TABLE": "features",
                           "REPORTS_BUCKET": "reports"}.items():
            monkeypatch.setenv(key, value)
        event = json.loads((REPO_ROOT / Path(*handler.split(".")[:-2]) / "event.json").read_text())
        with mock_aws():
            import boto3

            boto3.client("dynamodb", region_name="eu-west-1").create_table(
                TableName="features", BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": spec["schema"]["entity_key"], "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": spec["schema"]["entity_key"], "AttributeType": "S"}])
            boto3.client("s3", region_name="eu-west-1").create_bucket(
                Bucket="reports", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            module = load_handler_module(handler)
            capsys.readouterr()
            module.handler(event, LambdaContext(function_name=variables.get("POWERTOOLS_SERVICE_NAME", handler_name),
                                                invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:"
                                                                     f"function:{handler_name}"))
            out |= emf(capsys.readouterr().out)
    return out


def emitted_by_monitoring(team: str, monkeypatch) -> set[Emitted]:
    """The datums publish_monitoring_metrics puts for a report with every number present."""
    monkeypatch.setenv("MDLC_TEAM_SPEC_FILE", "unused")
    module = load_handler_module(_handler_path("publish_monitoring_metrics"))
    source = {"records": 10, "max_feature_psi": 0.1, "prediction_psi": 0.1, "feature_psi": {"f": 0.1}}
    report = {"endpoint": source, "batch": source, "violations": [],
              "quality": {"labelled": 10, "precision": 0.5, "recall": 0.5, "pr_auc": 0.5},
              "skew": {"checked": 10, "unmatched": 1, "max_feature_skew": 0.1, "feature_skew": {"f": 0.1}}}
    namespace = module.NAMESPACE.format(team=team)
    out = set()
    for datum in module.metric_data(report, 3.0, datetime.now(UTC)):
        dims = tuple(sorted((d["Name"], ANY if d["Name"] == "Feature" else d["Value"]) for d in datum["Dimensions"]))
        out.add(Emitted(namespace, datum["MetricName"], dims))
    return out


def _handler_path(name: str) -> str:
    [found] = [p for p in (REPO_ROOT / "lambdas").rglob(f"{name}/handler.py")]
    return ".".join(found.relative_to(REPO_ROOT).with_suffix("").parts) + ".handler"


# ----------------------------------------------------------------------------- test
@pytest.mark.parametrize("team", TEAMS)
def test_every_metric_a_dashboard_or_alarm_reads_is_emitted(assembly, team_dir, team, monkeypatch, capsys):
    emitted = (emitted_by_aws(assembly, team, team_dir)
               | emitted_by_rules(assembly, team, team_dir, monkeypatch, capsys)
               | emitted_by_features(assembly, team, team_dir, monkeypatch, capsys)
               | emitted_by_monitoring(team, monkeypatch))
    read = reads(assembly, team)

    assert len(read) >= 10, read  # dashboards and alarms were found and parsed
    missing = [f"{r.where}: {r.namespace} {r.name} {r.dimensions}" for r in read if not r.found_in(emitted)]
    assert not missing, "read but never emitted:\n" + "\n".join(missing)


def test_the_decision_mix_reads_the_rules_lambdas_metric(assembly, team_dir, monkeypatch, capsys):
    """The example team: the widget that used to search a metric nobody emitted now finds it."""
    emitted = emitted_by_rules(assembly, "fraud-detection", team_dir, monkeypatch, capsys)
    mix = [r for r in reads(assembly, "fraud-detection") if "Decision mix" in r.where]

    assert [r.name for r in mix] == ["Decisions"]
    decisions = {dict(e.dimensions)["Decision"] for e in emitted if e.name == "Decisions"}
    assert decisions == {"APPROVE", "REVIEW", "DECLINE"}
    assert all(r.found_in(emitted) for r in mix)
