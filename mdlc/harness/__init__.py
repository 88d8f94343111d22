"""Offline AWS harness: moto plus adapters that run the project's real code.

The harness executes the state machine that CDK synthesises, under moto's Step
Functions executor, routing Lambda invokes to the real handlers and SageMaker jobs to
the real job scripts (see README.md in this folder).
"""

from importlib.metadata import version as _installed_version

PINNED_MOTO_VERSION = "5.2.5"

_moto_version = _installed_version("moto")
if _moto_version != PINNED_MOTO_VERSION:
    raise ImportError(
        f"mdlc.harness patches moto internals and is pinned to moto=={PINNED_MOTO_VERSION}, "
        f"but moto=={_moto_version} is installed. Install the pinned version "
        f"(pip install 'moto[all]=={PINNED_MOTO_VERSION}') or port the adapters in "
        "mdlc/harness/ to the new version and update PINNED_MOTO_VERSION."
    )

from mdlc.harness import validation  # noqa: E402

# Every botocore session made from now on checks its requests as AWS does (validation.py):
# a session copies botocore's built-in handlers when it is created, so this comes first.
validation.install()

from mdlc.harness.cfn import DeployedResources, TemplateError, deploy_template  # noqa: E402
from mdlc.harness.execution import RunResult, StateVisit  # noqa: E402
from mdlc.harness.offline import OfflineAws  # noqa: E402

__all__ = [
    "PINNED_MOTO_VERSION",
    "DeployedResources",
    "OfflineAws",
    "RunResult",
    "StateVisit",
    "TemplateError",
    "deploy_template",
]
