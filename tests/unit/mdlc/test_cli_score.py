"""`mdlc local score` output (product: what a fraud client sees on the terminal). Not a
handler test: it imports the CLI, which the Lambda runtime's virtualenv does not install."""

from __future__ import annotations


def test_local_score_prints_the_decision_and_its_reason_codes():
    from mdlc.commands.realtime import summary_lines

    answer = {"decision": "REVIEW", "score": 0.4123, "decided_by": "score_band", "model_version": "v1",
              "fallback": False, "reason_codes": [{"feature": "amount", "value": 950.0, "contribution": 1.25},
                                                  {"feature": "channel", "value": "online", "contribution": -0.5}]}
    lines = summary_lines(200, answer)
    assert lines[0].strip() == "REVIEW  score 0.4123  decided by score_band  model v1"
    assert lines[2].split() == ["amount", "950.0", "+1.2500"] and lines[3].split() == ["channel", '"online"', "-0.5000"]
    conflict = summary_lines(409, {"status": 409, "error": "conflict", "fields": ["amount"]})
    assert conflict == ["\n409 conflict: amount"]


def test_local_score_builds_a_request_the_teams_api_accepts_for_any_team(team_dir):
    """Product: `mdlc local score --model NAME` sends a request of that team's own schema (the
    generated second team's columns, not the example's), valid for its API's request model."""
    import json

    import jsonschema

    from lambdas.shared.decision_request import request_schema
    from mdlc.commands.realtime import team_request
    from mdlc.contract import load_team, runtime_spec

    for path in sorted(team_dir.glob("*.yaml")):
        team = load_team(path)
        body = json.loads(json.dumps(team_request(team, customers=20, days=10)))

        schema = request_schema(runtime_spec(team))
        jsonschema.Draft4Validator(schema).validate(body)
        assert {team.schema.id_column, team.schema.entity_key, team.schema.timestamp_column} <= set(body)
        assert body["request_id"]


def test_local_score_with_model_sends_the_generated_request_and_overrides_its_entity(monkeypatch):
    """Product: `mdlc local score --model NAME --customer ID` (the HTTP call itself is replaced)."""
    import sys

    from click.testing import CliRunner

    from mdlc.cli import main
    from mdlc.contract import REPO_ROOT

    sys.path.insert(0, str(REPO_ROOT / "examples"))
    import fraud_client

    sent = []
    answer = {"decision": "APPROVE", "score": 0.01, "decided_by": "score_band", "model_version": "v1"}
    monkeypatch.setattr(fraud_client.LocalClient, "decide", lambda self, body: (sent.append(body), (200, answer))[1])

    result = CliRunner().invoke(main, ["local", "score", "--model", "fraud-detection", "--customer", "C-TEST"])

    assert result.exit_code == 0, result.output
    assert "generated from the schema of models/fraud-detection.yaml" in result.output
    [body] = sent
    assert body["customer_id"] == "C-TEST" and body["request_id"].startswith("score-")
    assert isinstance(body["amount"], float) and "APPROVE" in result.output
