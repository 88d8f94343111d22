"""One model behind the built-in XGBoost image's serving stack, on a local port (job runtime).

Does what the image does for a script-mode model (``sagemaker_xgboost_container/serving.py``
and ``sagemaker_containers/_server.py``, master cb8df91): import the user module with
``modules.import_module(SAGEMAKER_SUBMIT_DIRECTORY, SAGEMAKER_PROGRAM)`` (extract, ``pip
install .``, import), wrap its handlers in ``sagemaker_containers``' ``Transformer``, load the
model once (``initialize``) and answer ``/ping`` and ``/invocations`` with its Flask
``Worker`` app. The image runs that WSGI app under gunicorn (gevent workers) behind nginx;
here werkzeug's WSGI server runs it in this one process, single-threaded. The first stdout
line is JSON: ``{"port": N}`` once the model is loaded, or ``{"error": "..."}``.
Written for the oldest supported image Python.
"""

import json
import os
import sys
import traceback

from sagemaker_containers import _env, _modules
from sagemaker_containers.beta.framework import transformer, worker
from werkzeug.serving import WSGIRequestHandler, make_server


def _user_module_transformer(user_module):
    """sagemaker_xgboost_container.serving._user_module_transformer; the image's XGBoost
    default input/predict/output functions are not shipped, so a module without them gets
    sagemaker_containers' defaults."""
    model_fn = getattr(user_module, "model_fn", transformer.default_model_fn)
    input_fn = getattr(user_module, "input_fn", None)
    predict_fn = getattr(user_module, "predict_fn", None)
    output_fn = getattr(user_module, "output_fn", None)
    transform_fn = getattr(user_module, "transform_fn", None)
    if transform_fn and (input_fn or predict_fn or output_fn):
        raise ValueError("Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn")
    if transform_fn is not None:
        return transformer.Transformer(model_fn=model_fn, transform_fn=transform_fn)
    return transformer.Transformer(model_fn=model_fn, input_fn=input_fn, predict_fn=predict_fn,
                                   output_fn=output_fn)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # access log off: the harness counts requests
        pass


def _protocol_channel():
    """Keep the real stdout for the one protocol line; everything else (the toolkit's
    `pip install` output, logs) goes to stderr, which the harness writes to a file."""
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return channel


def main():
    channel = _protocol_channel()
    serving_env = _env.ServingEnv()
    try:
        user_module = _modules.import_module(serving_env.module_dir, serving_env.module_name)
        user_transformer = _user_module_transformer(user_module)
        user_transformer.initialize()
        app = worker.Worker(transform_fn=user_transformer.transform, module_name=serving_env.module_name)
        server = make_server("127.0.0.1", 0, app, request_handler=_QuietHandler)
    except Exception as error:  # noqa: BLE001 - reported to the harness, which fails the model
        sys.stderr.write(traceback.format_exc())
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}), file=channel, flush=True)
        return 1
    print(json.dumps({"port": server.server_port, "pid": os.getpid()}), file=channel, flush=True)
    channel.close()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
