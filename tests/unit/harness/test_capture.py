"""Harness data capture: an endpoint with DataCaptureConfig writes SageMaker-format JSONL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from .support import BUCKET, aws, endpoint, serving_model  # noqa: F401


def _capture_config(percent: int) -> dict:
    return {"EnableCapture": True, "InitialSamplingPercentage": percent,
            "DestinationS3Uri": f"s3://{BUCKET}/capture", "CaptureOptions": [{"CaptureMode": "Input"},
                                                                             {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]}}


def _with_capture(aws, percent):  # noqa: F811
    sm = aws.client("sagemaker")
    model = serving_model(aws, "v1", mean=2.0)
    sm.create_endpoint_config(EndpointConfigName="cap-cfg", DataCaptureConfig=_capture_config(percent),
                              ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": model,
                                                   "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="fraud", EndpointConfigName="cap-cfg")


def _keys(aws):  # noqa: F811
    listed = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="capture/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_each_invocation_is_captured_with_input_output_and_metadata(aws):  # noqa: F811
    _with_capture(aws, 100)

    aws.client("sagemaker-runtime").invoke_endpoint(EndpointName="fraud", Body=b'{"x": 3}',
                                                    ContentType="application/json")

    (key,) = _keys(aws)
    now = datetime.now(UTC)
    assert key.startswith(f"capture/fraud/AllTraffic/{now:%Y/%m/%d/%H}/") and key.endswith(".jsonl")
    line = json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data = line["captureData"]
    assert data["endpointInput"] == {"observedContentType": "application/json", "mode": "INPUT",
                                     "data": '{"x": 3}', "encoding": "JSON"}
    assert json.loads(data["endpointOutput"]["data"]) == [6.0] and data["endpointOutput"]["mode"] == "OUTPUT"
    assert line["eventMetadata"]["eventId"] and line["eventMetadata"]["inferenceTime"].endswith("Z")
    assert "inferenceId" not in line["eventMetadata"]


def test_the_callers_inference_id_is_recorded(aws):  # noqa: F811
    # InvokeEndpoint's InferenceId (the X-Amzn-SageMaker-Inference-Id header) is what the
    # decision workflow sets to the event's id; the monitor joins captures by it.
    _with_capture(aws, 100)

    aws.client("sagemaker-runtime").invoke_endpoint(EndpointName="fraud", Body=b'{"x": 3}',
                                                    ContentType="application/json", InferenceId="T-000042")

    (key,) = _keys(aws)
    line = json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert line["eventMetadata"]["inferenceId"] == "T-000042"


def test_the_sampling_percentage_is_honoured(aws):  # noqa: F811
    _with_capture(aws, 20)

    for _ in range(10):
        aws.client("sagemaker-runtime").invoke_endpoint(EndpointName="fraud", Body=b'{"x": 1}',
                                                        ContentType="application/json")

    assert len(_keys(aws)) == 2


def test_an_endpoint_without_capture_writes_nothing(aws):  # noqa: F811
    endpoint(aws, "plain", serving_model(aws))
    aws.client("sagemaker-runtime").invoke_endpoint(EndpointName="plain", Body=b'{"x": 1}',
                                                    ContentType="application/json")
    assert _keys(aws) == []
