"""Score replayed requests with the model's own serving code, in the model's own runtime.

Run by :func:`mdlc.backtest.score` as ``<runtime python> -m mdlc.backtest_score MODEL_DIR IN OUT``
with the job-code bundle's import root on the path (``mdlc.bundle.script_environment``), so
the scores and reason codes come from ``inference/inference.py``'s ``input_fn`` →
``predict_fn`` → ``output_fn`` on the image's Python and libraries, exactly as the endpoint
answers a JSON request: ``IN`` holds the JSON list of the feature objects the decision
workflow sends as the InvokeEndpoint body; ``OUT`` receives the endpoint's JSON body for
all of them at once (``{"model_version", "predictions": [...]}``). Standard library only
here: the runtime has no project dependencies beyond the bundle.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """``MODEL_DIR IN OUT``: the endpoint's answer for every record of ``IN``."""
    if len(argv) != 3:
        print("usage: python -m mdlc.backtest_score MODEL_DIR IN.json OUT.json", file=sys.stderr)
        return 2
    from inference import inference  # the bundle root is on the path

    model_dir, source, target = argv
    model = inference.model_fn(model_dir)
    payload = inference.input_fn(Path(source).read_text(encoding="utf-8"), inference.JSON)
    body, _ = inference.output_fn(inference.predict_fn(payload, model), inference.JSON)
    Path(target).write_text(body, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
