"""smoke_test_endpoint: the new endpoint answers a known record with a valid prediction."""

from __future__ import annotations

import json

import pytest
import requests

from tests.unit.lambdas.support import REGION


def endpoint_answers(body: str) -> None:
    """Queue the endpoint's next response (moto's sagemaker-runtime result queue)."""
    requests.post("http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results", timeout=5,
                  json={"region": REGION, "results": [{"Body": body, "ContentType": "application/json",
                                                       "InvokedProductionVariant": "AllTraffic"}]})


def test_a_valid_prediction_passes(handler, event, context):
    endpoint_answers(json.dumps({"model_version": "fraud-detection-v1", "predictions": [{"score": 0.12}]}))

    result = handler.handler(event, context)

    assert result == {"model_version": "fraud-detection-v1", "score": 0.12, "variant": "AllTraffic"}


def test_a_response_that_is_not_a_prediction_fails_the_deployment(handler, event, context):
    endpoint_answers("<html>502 Bad Gateway</html>")
    with pytest.raises(handler.SmokeTestFailed, match="response: not JSON"):
        handler.handler(event, context)
