#!/usr/bin/env python3
"""Post-deployment smoke test of a team's staging stage, run by the pipeline after staging.

1. Retrains: uploads a small seeded synthetic sample below ``<data.raw_prefix>smoke-test/``
   in the raw bucket, starts the training workflow on it (execution input ``data_prefix``)
   and waits until the execution ends; anything but SUCCEEDED fails the pipeline.
2. Decides: POSTs a known record (a deny-listed or allow-listed entity, so the decision is
   known in advance) to the decision API, signed with SigV4, and checks the decision.

The stack outputs reach it as environment variables (the pipeline maps them from the
CloudFormation outputs of the staging stacks):

    TRAINING_STATE_MACHINE_ARN   output TrainingStateMachineArn (absent: step skipped)
    DECISION_API_URL             output DecisionApiUrl (absent: step skipped)
    RAW_BUCKET                   the team's raw bucket
    SMOKE_ROLE_ARN               role in the staging account that the test assumes (optional)
    TARGET_REGION                region of the staging stage (else AWS_REGION)
    SMOKE_SAMPLE_ROWS            rows of the sample (default 20000)
    SMOKE_TIMEOUT_MINUTES        how long to wait for the training execution (default 80)

    python scripts/smoke_test.py --team-file models/fraud-detection.yaml
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mdlc.contract import TeamConfig, load_team  # noqa: E402

FINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class SmokeTestFailure(RuntimeError):
    """The deployed stage does not behave as expected."""


@dataclass(frozen=True)
class Outcome:
    step: str
    status: str  # "passed" or "skipped"
    detail: str


# ------------------------------------------------------------------------------ training
def sample_csv(team: TeamConfig, rows: int, seed: int = 7) -> bytes:
    """A seeded synthetic sample with the team's raw columns (header row, CSV), generated
    from the team's schema (the example team: its card-transaction generator)."""
    from mdlc import synthetic_team
    from mdlc.contract import runtime_spec

    spec = runtime_spec(team)
    days = 14
    frame, _ = synthetic_team.for_team(spec, n_entities=max(1, rows // days), days=days, seed=seed)
    buffer = io.StringIO()
    frame[synthetic_team.raw_columns(spec)].to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def run_training(
    team: TeamConfig, *, sfn: Any, s3: Any, state_machine_arn: str, raw_bucket: str, rows: int,
    timeout_s: float, poll_s: float = 30.0, sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> Outcome:
    """Upload the sample, start the training workflow on it, wait for the end."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    prefix = f"{team.data.raw_prefix}smoke-test/{stamp}/"
    body = sample_csv(team, rows)
    s3.put_object(Bucket=raw_bucket, Key=f"{prefix}part-0.csv", Body=body)
    started = sfn.start_execution(
        stateMachineArn=state_machine_arn,
        name=f"smoke-test-{stamp}",
        input=json.dumps({"data_prefix": f"s3://{raw_bucket}/{prefix}", "reason": "pipeline smoke test"}),
    )
    arn = started["executionArn"]
    waited = 0.0
    while True:
        status = sfn.describe_execution(executionArn=arn)
        if status["status"] in FINAL:
            break
        if waited >= timeout_s:
            raise SmokeTestFailure(f"training execution {arn} still {status['status']} after {waited:.0f} s")
        sleep(poll_s)
        waited += poll_s
    if status["status"] != "SUCCEEDED":
        raise SmokeTestFailure(
            f"training execution {arn} ended {status['status']}: "
            f"{status.get('error', '')} {status.get('cause', '')}".strip()
        )
    lines = body.count(b"\n") - 1
    return Outcome("training", "passed", f"execution {arn} SUCCEEDED on {lines} sample rows")


# ------------------------------------------------------------------------------ decision
def known_record(team: TeamConfig) -> tuple[dict[str, Any], str | None]:
    """A valid request whose decision the team file fixes: deny-listed → DECLINE, allow-listed → APPROVE."""
    s = team.schema
    rules = team.decision_rules
    record: dict[str, Any] = {
        s.id_column: "smoke-test-0001",
        s.entity_key: "smoke-test-customer",
        s.timestamp_column: "2026-01-15T12:00:00Z",
    }
    for f in s.record_features:
        record[f.name] = _typical(f)
    expected = None
    listings = ((rules.deny_list, "DECLINE"), (rules.allow_list, "APPROVE")) if rules else ()
    for listing, decision in listings:
        field = next((k for k, v in listing.items() if v and k in record), None)
        if field is not None:
            record[field] = listing[field][0]
            expected = decision
            break
    return record, expected


def _typical(feature) -> Any:
    if feature.categories:
        return feature.categories[0]
    if feature.type in ("float", "int"):
        low = feature.min if feature.min is not None else 0
        high = feature.max if feature.max is not None else low + 100
        value = low + (high - low) / 1000
        return int(value) if feature.type == "int" else round(value, 2)
    if feature.type == "bool":
        return False
    if feature.type == "timestamp":
        return "2026-01-15T12:00:00Z"
    return "smoke"


def sign_request(url: str, body: bytes, credentials: Any, region: str) -> urllib.request.Request:
    """A POST of ``body`` to ``url`` signed with SigV4 for API Gateway (execute-api)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    return urllib.request.Request(url, data=body, headers=dict(request.headers.items()), method="POST")


def _send(request: urllib.request.Request) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (https API URL)
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def call_decision_api(
    team: TeamConfig, *, url: str, credentials: Any, region: str,
    send: Callable[[urllib.request.Request], tuple[int, bytes]] = _send,
) -> Outcome:
    record, expected = known_record(team)
    status, payload = send(sign_request(url, json.dumps(record).encode(), credentials, region))
    if status != 200:
        raise SmokeTestFailure(f"decision API {url} answered HTTP {status}: {payload[:300]!r}")
    try:
        decision = json.loads(payload)["decision"]
    except (ValueError, KeyError, TypeError):
        raise SmokeTestFailure(f"decision API {url} answered without a `decision`: {payload[:300]!r}") from None
    if decision not in ("APPROVE", "REVIEW", "DECLINE"):
        raise SmokeTestFailure(f"decision API {url} decided {decision!r}; expected APPROVE, REVIEW or DECLINE")
    if expected and decision != expected:
        raise SmokeTestFailure(f"decision API {url} decided {decision!r} for the known record; expected {expected!r}")
    return Outcome("decision", "passed", f"{url} decided {decision} for record {record[team.schema.id_column]}")


# ------------------------------------------------------------------------------ driver
def run(team: TeamConfig, env: Mapping[str, str], session: Any, send=_send, sleep=time.sleep) -> list[Outcome]:
    """Every smoke test whose stack output is present; a missing output is a reported skip."""
    region = env.get("TARGET_REGION") or env.get("AWS_REGION") or session.region_name
    outcomes = []
    machine = env.get("TRAINING_STATE_MACHINE_ARN")
    if machine:
        if not env.get("RAW_BUCKET"):
            raise SmokeTestFailure("RAW_BUCKET is not set; expected the team's raw bucket (output RawBucketName)")
        outcomes.append(run_training(
            team, sfn=session.client("stepfunctions", region_name=region),
            s3=session.client("s3", region_name=region), state_machine_arn=machine,
            raw_bucket=env["RAW_BUCKET"], rows=int(env.get("SMOKE_SAMPLE_ROWS", "20000")),
            timeout_s=60 * float(env.get("SMOKE_TIMEOUT_MINUTES", "80")), sleep=sleep,
        ))
    else:
        outcomes.append(Outcome("training", "skipped", "no stack output TrainingStateMachineArn in the "
                                "staging stage (TRAINING_STATE_MACHINE_ARN unset): training not tested"))
    url = env.get("DECISION_API_URL")
    if url:
        credentials = session.get_credentials().get_frozen_credentials()
        outcomes.append(call_decision_api(team, url=url, credentials=credentials, region=region, send=send))
    else:
        outcomes.append(Outcome("decision", "skipped", "no stack output DecisionApiUrl in the staging "
                                "stage (DECISION_API_URL unset): decision API not tested"))
    return outcomes


def session_for(env: Mapping[str, str]):
    """A boto3 session in the staging account: the smoke-test role if named, else the caller."""
    import boto3

    region = env.get("TARGET_REGION") or env.get("AWS_REGION")
    role = env.get("SMOKE_ROLE_ARN")
    if not role:
        return boto3.Session(region_name=region)
    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=role, RoleSessionName="mdlc-smoke-test")["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=region,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--team-file", required=True, type=Path)
    args = parser.parse_args(argv)
    team = load_team(args.team_file)
    try:
        outcomes = run(team, os.environ, session_for(os.environ))
    except SmokeTestFailure as exc:
        print(f"smoke test FAILED: {exc}", file=sys.stderr)
        return 1
    for o in outcomes:
        print(f"{o.step}: {o.status}: {o.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
