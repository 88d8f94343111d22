"""What ships to AWS, defined once: the repository paths each runtime receives.

Three consumers read these tuples and nothing else: the Lambda asset of every function
(``stacks/common/lambda_function.stage_code``), the SageMaker job-code bundle
(``mdlc/bundle.bundle_files``) and the static check that image code runs on the oldest image
Python (``make job-code-check`` runs vermin over ``python -m mdlc.shipping image-python``;
ruff's per-file target versions in ``pyproject.toml`` are kept in step by a test). A test
also checks that every project module shipped code imports is itself shipped, so a new
import that would fail in Lambda or in a container fails offline first.
"""

from __future__ import annotations

import sys

#: Project modules both Lambda handlers and SageMaker job scripts import: the feature
#: module (training/serving parity) and the decision policy (rules Lambda, evaluation, batch).
SHARED_MDLC = ("mdlc/__init__.py", "mdlc/features", "mdlc/policy.py")

#: Every Lambda function's asset, besides its own ``lambdas/<stage>/<name>/`` folder.
#: ``mdlc/latency_deadline.py``: the decision function's per-request deadline, one rule with the
#: latency model (its figure table comes along: its reserve is computed from it, at synth time).
LAMBDA = ("lambdas/__init__.py", "lambdas/shared", *SHARED_MDLC, "mdlc/names.py", "mdlc/pan.py",
          "mdlc/latency_deadline.py", "mdlc/latency_figures.py")

#: The job-code bundle (a folder ships its ``.py`` files; ``sagemaker_jobs/`` is the bundle root).
SAGEMAKER = ("sagemaker_jobs", *SHARED_MDLC)

#: Code that runs on a SageMaker image's Python: the bundle, plus the harness' shims that the
#: offline run loads into the image runtime (they must parse there too).
IMAGE_PYTHON = (*SAGEMAKER, "mdlc/harness/_runtime", "mdlc/harness/_opt_ml")


def main(argv: list[str]) -> int:
    lists = {"image-python": IMAGE_PYTHON, "lambda": LAMBDA, "sagemaker": SAGEMAKER}
    if len(argv) != 1 or argv[0] not in lists:
        print(f"usage: python -m mdlc.shipping {{{'|'.join(lists)}}}", file=sys.stderr)
        return 2
    print(" ".join(lists[argv[0]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
