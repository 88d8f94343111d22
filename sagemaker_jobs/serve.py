"""Serving entry point at the root of the job-code bundle: ``SAGEMAKER_PROGRAM=serve.py``.

The serving toolkit imports the program as a top-level module, so the handlers of
``inference/inference.py`` are re-exported from here.
"""

from inference.inference import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]
