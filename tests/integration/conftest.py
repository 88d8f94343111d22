"""Fixtures for workflows executed offline: a team deployed into the harness, alert capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mdlc.contract import MODELS_DIR


def team_variant_dir(tmp: Path, **overrides) -> Path:
    """A models folder with the example team file changed by ``overrides`` (dotted paths).

    For behaviour a test needs (a stage switched off, a gate loosened); never to make
    training cheaper: tests keep the team's training settings and use small data instead.
    """
    data = yaml.safe_load((MODELS_DIR / "fraud-detection.yaml").read_text())
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
def example_models() -> Path:
    """The repository's models/ folder: the team file that deploys, unchanged."""
    return MODELS_DIR
