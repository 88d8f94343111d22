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
