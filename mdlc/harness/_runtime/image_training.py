"""The built-in XGBoost image's training entry point, script-mode branch (runs in the job runtime).

The image sets ``SAGEMAKER_TRAINING_MODULE=sagemaker_xgboost_container.training:main``;
``sagemaker_containers``' trainer imports it and calls ``main``. That package is built from
aws/sagemaker-xgboost-container and is not on PyPI, so the harness points
``SAGEMAKER_TRAINING_MODULE`` at this module instead, which does what
``sagemaker_xgboost_container/training.py`` (master cb8df91) does when the job names a
``sagemaker_program``: run it through the toolkit's ``modules.run_module`` (download and
extract the code, ``pip install .`` it, ``python -m <program>``). Algorithm mode (no
program) is not emulated. Written for the oldest supported image Python.
"""

import logging
import sys

import sagemaker_containers.beta.framework as framework
from sagemaker_containers import _errors

logger = logging.getLogger(__name__)


def train(training_environment):
    """sagemaker_xgboost_container.training.train, script-mode branch."""
    if training_environment.user_entry_point is None:
        raise _errors.ClientError(
            "the offline harness emulates script mode only: HyperParameters has no sagemaker_program"
        )
    logger.info("Invoking user training script.")
    framework.modules.run_module(
        training_environment.module_dir,
        training_environment.to_cmd_args(),
        training_environment.to_env_vars(),
        training_environment.module_name,
        capture_error=False,
    )


def main():
    """sagemaker_xgboost_container.training.main."""
    train(framework.training_env())
    sys.exit(0)
