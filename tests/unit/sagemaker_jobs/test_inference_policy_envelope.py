"""The decision function's endpoint body carries the policy's hash beside the record (product).

Data capture records only the endpoint's request and response, so the request carries the
deciding policy's hash in the ``instances`` envelope (``lambdas.shared.decision_request.
endpoint_body``). A model ships its own inference code in model.tar.gz: these tests run the
inference code of the commit before the envelope key existed (from git) next to today's, on
one trained model, to show a model registered before the change scores the envelope as it
scored the bare record, while a field added inside the record would have been its 400.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lambdas.shared.decision_request import POLICY_KEY, endpoint_body
from mdlc import features as F
from sagemaker_jobs.inference import inference

REPO = Path(__file__).resolve().parents[3]
SOURCE = "sagemaker_jobs/inference/inference.py"
JSON = "application/json"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """The inference module as it was before the envelope's policy key (what older models carry)."""
    try:
        introduced = _git("log", "--format=%H", f"-S{POLICY_KEY} = ", "--", SOURCE).split()
        source = _git("show", f"{introduced[-1]}^:{SOURCE}" if introduced else f"HEAD:{SOURCE}")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no git history of {SOURCE}: {exc}")
    if f'POLICY_KEY = "{POLICY_KEY}"' in source:
        pytest.skip("the previous inference code already knows the envelope's policy key")
    path = tmp_path_factory.mktemp("previous") / "previous_inference.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("previous_inference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["previous_inference"] = module
    spec.loader.exec_module(module)
    return module


def _record(spec):
    record = {"amount": 950.0, "merchant_category": "gaming", "channel": "online", "country": "NG",
              "event_time": "2026-03-01T03:10:00Z"}
    return F.derive_record(record, {"txn_count_30d": 4, "amount_sum_30d": 160.0, "amount_mean_90d": 40.0,
                                    "account_tenure_days": 50.0, "home_country": "GB"}, spec)


def _answer(code, model, body) -> dict:
    return json.loads(code.output_fn(code.predict_fn(code.input_fn(body, JSON), model), JSON)[0])


def test_a_model_trained_before_the_change_scores_the_envelope_as_the_bare_record(previous, pipeline, spec):
    record = _record(spec)
    old_model = previous.model_fn(str(pipeline["model_dir"]))

    enveloped = _answer(previous, old_model, endpoint_body(record, "0123456789ab"))
    bare = _answer(previous, old_model, json.dumps(record))

    assert enveloped == bare and "policy_version" not in enveloped
    with pytest.raises(previous.InvalidInputError, match="unknown field"):  # why not inside the record
        previous.predict_fn(previous.input_fn(json.dumps({**record, POLICY_KEY: "0123456789ab"}), JSON), old_model)


def test_todays_inference_code_answers_the_policy_version_of_the_envelope(previous, pipeline, spec):
    record = _record(spec)
    model = inference.model_fn(str(pipeline["model_dir"]))

    answer = _answer(inference, model, endpoint_body(record, "0123456789ab"))

    assert answer["policy_version"] == f"0123456789ab/{answer['model_version']}"
    assert answer["predictions"] == _answer(previous, previous.model_fn(str(pipeline["model_dir"])),
                                            json.dumps(record))["predictions"]
    assert inference.POLICY_KEY == POLICY_KEY  # the model's code and the decision function agree
    with pytest.raises(inference.InvalidInputError, match=POLICY_KEY):
        inference.input_fn(json.dumps({"instances": [record], POLICY_KEY: 12}), JSON)
