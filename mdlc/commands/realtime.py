"""Real-time commands: ``mdlc local serve`` / ``mdlc local score`` and ``mdlc rollback``.

``local serve`` answers ``POST /decisions`` on 127.0.0.1 through the team's decision API as
synthesised (validator, mapping templates, integration and gateway responses) in front of
the decision workflow running offline (training and deploying a model first when none is
approved yet). ``rollback`` starts the
deployment workflow with the approved version before the deployed one.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click

from mdlc.commands import stage_option
from mdlc.contract import REPO_ROOT, TeamFileError
from mdlc.names import model_package_group, state_machine_name

EXAMPLE_REQUEST = REPO_ROOT / "examples" / "decision-request.json"


def register(main: click.Group, local: click.Group) -> None:
    local.add_command(serve)
    local.add_command(score)
    main.add_command(rollback)


# ------------------------------------------------------------------------- rollback
class RollbackError(RuntimeError):
    """No version to roll back to, or nothing deployed."""


def previous_approved(sagemaker: Any, group: str, deployed_arn: str) -> str:
    """The approved package of ``group`` with the highest version below the deployed one."""
    deployed = int(deployed_arn.rsplit("/", 1)[-1])
    arns: list[str] = []
    for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
        arns += [p["ModelPackageArn"] for p in page["ModelPackageSummaryList"]
                 if p.get("ModelApprovalStatus") == "Approved"]
    older = sorted((int(arn.rsplit("/", 1)[-1]), arn) for arn in arns if int(arn.rsplit("/", 1)[-1]) < deployed)
    if not older:
        raise RollbackError(f"no approved version of {group} older than the deployed version {deployed}; "
                            "approve one in the model registry first")
    return older[-1][1]


def start_rollback(*, team: str, sagemaker: Any, ssm: Any, stepfunctions: Any, state_machine_arn: str,
                   poll_seconds: int = 30) -> dict[str, Any]:
    """Start the deployment workflow with the previous approved version; returns what it started."""
    from stacks.realtime.names import deployed_parameter

    try:
        record = json.loads(ssm.get_parameter(Name=deployed_parameter(team))["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        raise RollbackError(f"nothing is deployed for {team} (no {deployed_parameter(team)} parameter)") from None
    target = previous_approved(sagemaker, model_package_group(team), record["model_package_arn"])
    version = target.rsplit("/", 1)[-1]
    started = stepfunctions.start_execution(
        stateMachineArn=state_machine_arn, name=f"rollback-to-v{version}-{uuid.uuid4().hex[:8]}",
        input=json.dumps({"model_package_arn": target, "reason": "rollback", "poll_seconds": poll_seconds}))
    return {"from": record["model_package_arn"], "to": target, "execution_arn": started["executionArn"]}


@click.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--stage", default="production", show_default=True, help="Stage in the team file's environments.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the deployment to its end.")
def rollback(model: str, stage: str, wait: bool) -> None:
    """Redeploy the approved model version before the one now serving (deployment workflow)."""
    import boto3

    from mdlc.contract import MODELS_DIR, load_team

    try:
        team = load_team(MODELS_DIR / f"{model}.yaml")
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    env = team.environments.get(stage)
    session = boto3.session.Session(region_name=env.region if env else None)
    account = env.account if env else session.client("sts").get_caller_identity()["Account"]
    arn = f"arn:aws:states:{session.region_name}:{account}:stateMachine:{state_machine_name(model, 'deployment')}"
    sfn = session.client("stepfunctions")
    try:
        started = start_rollback(team=model, sagemaker=session.client("sagemaker"), ssm=session.client("ssm"),
                                 stepfunctions=sfn, state_machine_arn=arn)
    except RollbackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"rolling back {started['from']} → {started['to']}\nexecution {started['execution_arn']}")
    if wait:
        from mdlc.harness.execution import follow_execution

        result = follow_execution(sfn, started["execution_arn"], timeout=4 * 3600)
        click.echo(f"deployment {result.status}" + (f": {result.error}: {result.cause}" if result.error else ""))
        sys.exit(0 if result.succeeded else 1)


# --------------------------------------------------------------------- local serve
class DecisionHandler(BaseHTTPRequestHandler):
    """Every request → the team's decision API as deployed offline, through its own template.

    ``gateway`` is a :class:`mdlc.harness.apigateway.RestApiGateway`: resource lookup, the
    request validator and model, the VTL templates, StartSyncExecution of the decision
    workflow and the integration/gateway responses of the synthesised template. Both
    ``/decisions`` and the stage path ``/v1/decisions`` reach it.
    """

    gateway: Any = None  # set by make_server
    delivered: Any = None  # set by make_server: the feature stream's consumer runs after each request
    lock = threading.Lock()  # the harness runs Lambda handlers one at a time anyway

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self._forward("POST")

    def do_GET(self) -> None:  # noqa: N802
        self._forward("GET")

    def do_PUT(self) -> None:  # noqa: N802
        self._forward("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._forward("DELETE")

    def _forward(self, method: str) -> None:
        from mdlc.harness.apigateway import MAX_PAYLOAD_BYTES

        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._send(400, json.dumps({"status": 400, "error": "invalid request",
                                        "message": "Content-Length is not a number"}), {})
            return
        # One byte over API Gateway's payload limit is enough for it to answer 413.
        body = self.rfile.read(max(0, min(length, MAX_PAYLOAD_BYTES + 1)))
        with self.lock:
            response = type(self).gateway.invoke(method, self.path, body, dict(self.headers.items()))
            if type(self).delivered is not None:
                type(self).delivered()  # the next decision for the same entity sees this one
        self._send(response.status, response.body, response.headers)

    def _send(self, status: int, body: str, headers: dict[str, str]) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def make_server(team: Any, port: int) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:``port`` (0 = any free port) in front of ``team``'s decision API."""
    handler = type("BoundDecisionHandler", (DecisionHandler,),
                   {"gateway": team.api("decisions"), "delivered": staticmethod(team.aws.deliver_kinesis)})
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


def ensure_deployed(team: Any, *, customers: int, days: int, echo: Any = click.echo) -> str:
    """Deploy the newest approved version; train (generated data) and approve one if there is none."""
    if not team.team.realtime.enabled:
        raise click.ClickException(f"team {team.name} has realtime.enabled false: no endpoint and no decision "
                                   f"API to serve; use `mdlc local batch --model {team.name}`")
    packages = [p for p in team.model_packages() if p.get("ModelApprovalStatus") == "Approved"]
    if not packages:
        from mdlc import synthetic_team

        frame, source = synthetic_team.for_team(team.spec, n_entities=customers, days=days, seed=7)
        echo(f"no approved model: training one on {synthetic_team.describe(frame, team.spec)} generated by {source}")
        team.put_raw(frame, "2026-03-01")
        team.train(check=True)
        newest = team.model_packages()[-1]["ModelPackageArn"]
        team.approve(newest)
        packages = [p for p in team.model_packages() if p.get("ModelApprovalStatus") == "Approved"]
    arn = packages[-1]["ModelPackageArn"]
    echo(f"deploying {arn}")
    team.run("deployment", {"model_package_arn": arn, "poll_seconds": 1}, check=True, timeout=600)
    return arn


@click.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--port", default=8080, show_default=True, help="Port on 127.0.0.1.")
@click.option("--customers", default=300, show_default=True, help="Synthetic data if a model must be trained.")
@click.option("--days", default=45, show_default=True, help="Synthetic data if a model must be trained.")
@stage_option
def serve(model: str, port: int, customers: int, days: int, stage: str) -> None:
    """Serve POST /decisions on 127.0.0.1 from the offline decision workflow."""
    from mdlc.local import LocalTeam

    try:
        with LocalTeam(model, progress=click.echo, stage=stage) as team:
            ensure_deployed(team, customers=customers, days=days)
            server = make_server(team, port)
            click.echo(f"serving POST http://127.0.0.1:{server.server_port}/decisions (Ctrl-C stops)")
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
            finally:
                server.server_close()
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def team_request(team: Any, *, customers: int = 300, days: int = 45, seed: int = 7) -> dict[str, Any]:
    """A decision request for any team: its id, entity key, timestamp and record columns, from
    a record generated after the history `mdlc local serve` trains on (same sizes and seed),
    so its entity has online features."""
    from mdlc import synthetic_team
    from mdlc.contract import runtime_spec

    spec, sc = runtime_spec(team), team.schema
    later = synthetic_team.later_for_team(spec, n_entities=customers, train_days=days, days=1, seed=seed, variant=1)
    row = later.head(1).to_dict("records")[0]
    return request_body(team, row, f"score-{row[sc.id_column]}")


def request_body(team: Any, row: dict[str, Any], request_id: str) -> dict[str, Any]:
    """A decision request from a raw record (CSV text or generated values): the team's id,
    entity, timestamp and record columns, each as the JSON type its request model expects."""
    sc = team.schema
    body: dict[str, Any] = {"request_id": request_id}
    for name in (sc.id_column, sc.entity_key, sc.timestamp_column):
        value = row.get(name)
        body[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    for feature in sc.record_features:
        body[feature.name] = _json_value(row.get(feature.name), feature.type)
    return body


def _json_value(value: Any, kind: str) -> Any:
    """``value`` parsed as the feature module parses it (missing → None); one that does not
    parse is sent as it is, and the API's 400 names the field."""
    from mdlc import features as F

    if F.is_missing(value):
        return None
    try:
        if kind == "bool":
            return F.to_bool(value)
        if kind in ("int", "float"):
            number = F.to_number(value)
            return int(number) if kind == "int" else number
    except ValueError:
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@click.command()
@click.option("--port", default=8080, show_default=True, help="Port of `mdlc local serve`.")
@click.option("--model", default=None,
              help="Team name: send a request built from the team's own schema (a generated record).")
@click.option("--file", "path", type=click.Path(exists=True, path_type=Path), default=None,
              help=f"JSON request to send [default without --model: {EXAMPLE_REQUEST.relative_to(REPO_ROOT)}].")
@click.option("--customer", default=None, help="Override the request's entity id (the team's entity_key).")
@click.option("--request-id", default=None, help="Override the request id (a new one scores again).")
def score(port: int, model: str | None, path: Path | None, customer: str | None, request_id: str | None) -> None:
    """Send one decision request to `mdlc local serve` and print the answer."""
    sys.path.insert(0, str(REPO_ROOT / "examples"))
    from fraud_client import LocalClient

    entity_key = "customer_id"  # the example request's
    team = None
    if model:
        from mdlc.contract import MODELS_DIR, load_team

        try:
            team = load_team(MODELS_DIR / f"{model}.yaml")
        except TeamFileError as exc:
            raise click.ClickException(str(exc)) from None
        entity_key = team.schema.entity_key
    if team is not None and path is None:
        body = team_request(team)
        click.echo(f"request generated from the schema of models/{model}.yaml")
    else:
        body = json.loads((path or EXAMPLE_REQUEST).read_text(encoding="utf-8"))
    if customer:
        body[entity_key] = customer
    if request_id:
        body["request_id"] = request_id
    status, answer = LocalClient(f"http://127.0.0.1:{port}").decide(body)
    click.echo(json.dumps(answer, indent=2))
    for line in summary_lines(status, answer):
        click.echo(line)
    sys.exit(0 if status == 200 else 1)


def summary_lines(status: int, answer: dict[str, Any]) -> list[str]:
    """The answer for a person: decision, score, what decided, and the model's reason codes."""
    if status != 200:
        fields = answer.get("fields") or [e.get("field") for e in answer.get("errors", [])]
        return [f"\n{status} {answer.get('error', '')}" + (f": {', '.join(map(str, fields))}" if fields else "")]
    score = "-" if answer.get("score") is None else f"{answer['score']:.4f}"
    lines = [f"\n{answer['decision']}  score {score}  decided by {answer.get('decided_by')}  "
             f"model {answer.get('model_version')}" + ("  (fallback)" if answer.get("fallback") else "")]
    codes = answer.get("reason_codes") or []
    if codes:
        lines.append("reason codes (contribution to the log-odds of the score; + raises it):")
        lines += [f"  {c['feature']:<24} {json.dumps(c['value']):>14} {c['contribution']:+10.4f}" for c in codes]
    return lines
