#!/usr/bin/env python3
"""CDK app: one set of MDLC stacks per model team in ``models/``.

    npx cdk synth                      # every team
    npx cdk synth -c model=NAME        # one team
    npx cdk synth -c stage=staging     # the team's staging account/region

Environment values are read here only and passed down as typed props. Nothing here calls
AWS: account and region come from the team file or CDK_DEFAULT_ACCOUNT/REGION.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk

from mdlc.contract import TeamFileError
from stacks.app_builder import build_app


def main() -> None:
    app = cdk.App()
    try:
        build_app(
            app,
            model=app.node.try_get_context("model"),
            stage=app.node.try_get_context("stage") or "dev",
            default_account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            default_region=os.environ.get("CDK_DEFAULT_REGION"),
            # Another folder of team files (tests, a platform repo of many teams).
            models_dir=Path(os.environ["MDLC_MODELS_DIR"]) if os.environ.get("MDLC_MODELS_DIR") else None,
        )
    except TeamFileError as exc:
        # Fail before any template is written, with the file and field named.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    app.synth()


if __name__ == "__main__":
    main()
