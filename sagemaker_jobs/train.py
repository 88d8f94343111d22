"""Training entry point at the root of the job-code bundle: ``sagemaker_program=train.py``.

The image's toolkit (sagemaker-containers) runs the program as a module,
``python -m <program without .py>``, so it must sit at the root of the bundle:
``training/train.py`` would be ``python -m training/train``, which fails in SageMaker with
"No module named training/train".
"""

import sys

from training.train import main

if __name__ == "__main__":
    sys.exit(main())
