"""Serving entry point at the root of the job-code bundle: ``SAGEMAKER_PROGRAM=serve.py``.

The XGBoost image serves a script-mode model with ``sagemaker_containers``' Transformer and
Flask Worker (``sagemaker_xgboost_container/serving.py``), which turns any exception of the
module's functions into HTTP 500. So the module exposes ``model_fn`` and one
``transform_fn`` that runs ``inference/inference.py``'s input → predict → output chain and
answers a request it cannot score with the status of :class:`InvalidInputError` (400, 406,
415) and a JSON body naming the field, instead of a 500.
"""

import json

# Only model_fn and transform_fn may be attributes of this module: the image's serving stack
# refuses a module that defines transform_fn next to input_fn/predict_fn/output_fn.
from inference import inference as _inference

model_fn = _inference.model_fn
__all__ = ["model_fn", "transform_fn"]


def transform_fn(model, body, content_type, accept):
    """One request → (body, content type), or an error response with the input's status."""
    try:
        payload = _inference.input_fn(body, content_type)
        return _inference.output_fn(_inference.predict_fn(payload, model), accept)
    except _inference.InvalidInputError as error:
        from sagemaker_containers.beta.framework import worker  # the image's serving toolkit

        payload = json.dumps({"error": "invalid request", "message": str(error),
                              "status": error.status_code})
        return worker.Response(response=payload, status=error.status_code,
                               mimetype="application/json")
