"""Fixtures for workflows executed offline: a team deployed into the harness, alert capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mdlc.contract import MODELS_DIR


def fast_team_dir(tmp: Path, **overrides) -> Path:
    """The example team with fewer boosting rounds (same workflow, quicker training)."""
    data = yaml.safe_load((MODELS_DIR / "fraud-detection.yaml").read_text())
    data["training"]["hyperparameters"]["num_round"] = 60
    for dotted, value in overrides.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    models = tmp / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "fraud-detection.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return models


class AlertInbox:
    """An SQS queue subscribed to the team's alerts topic: what the on-call would receive."""

    def __init__(self, team) -> None:
        self.sqs = team.client("sqs")
        topic = team.resources.of_type("AWS::SNS::Topic")[0].ref
        self.url = self.sqs.create_queue(QueueName=f"alerts-{id(self)}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        team.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                                     Attributes={"RawMessageDelivery": "true"})

    def drain(self) -> list[dict]:
        messages = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return messages
            for m in got:
                body = m["Body"]
                try:
                    messages.append(json.loads(body))
                except ValueError:
                    messages.append({"raw": body})
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture(scope="module")
def fast_models(tmp_path_factory) -> Path:
    return fast_team_dir(tmp_path_factory.mktemp("team"))
