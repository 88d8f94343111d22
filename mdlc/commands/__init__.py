"""Sub-commands of ``mdlc``, one module per MDLC stage; each exposes ``register(main, local)``."""

from collections.abc import Callable
from typing import Any

import click

from mdlc.local.team import DEFAULT_STAGE


def stage_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--stage``: the offline run executes the templates of `cdk synth -c stage=STAGE`."""
    return click.option("--stage", default=DEFAULT_STAGE, show_default=True,
                        help="Stage whose synth runs offline (as `cdk synth -c stage=STAGE`; a stage of the "
                             "team file's environments).")(command)
