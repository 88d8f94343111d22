#!/usr/bin/env python3
"""CDK app: one set of MDLC stacks per model team in ``models/``.

    npx cdk synth                      # every team
    npx cdk synth -c model=NAME        # one team
    npx cdk synth -c stage=staging     # the team's staging account/region
    npx cdk synth -c lambda_concurrency_quota=10   # the accounts' Lambda concurrency quota
    CDK_VALIDATION=true npx cdk synth  # plus CDK's built-in CloudFormation validation

Environment values are read here only and passed down as typed props. Nothing here calls
AWS. Account and region of each team, in this order: ``environments.<stage>`` in the team
file, then ``-c account=... -c region=...``, then the CDK CLI's own environment
(CDK_DEFAULT_ACCOUNT/REGION, which the CLI sets itself from the profile or AWS_REGION),
with a warning. The resolved account and region are printed per team.

cdk-nag runs on every synth. CDK's built-in CloudFormation validation (a WebAssembly build
of cfn-lint's rules) runs only with ``CDK_VALIDATION=true``: it costs 4.5 s of a 15 s synth,
and `make test` runs it, and cfn-lint itself, on every template of every team.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk

from mdlc.contract import TeamFileError
from mdlc.latency import check_budgets
from stacks.app_builder import build_app, parse_concurrency_quota


def _context(app: cdk.App, key: str) -> str | None:
    value = app.node.try_get_context(key)
    return None if value in (None, "") else str(value)


def main() -> None:
    app = cdk.App(builtin_cloud_formation_validation=os.environ.get("CDK_VALIDATION") == "true")
    try:
        built = build_app(
            app,
            model=app.node.try_get_context("model"),
            stage=app.node.try_get_context("stage") or "dev",
            default_account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            default_region=os.environ.get("CDK_DEFAULT_REGION"),
            context_account=_context(app, "account"),
            context_region=_context(app, "region"),
            report=lambda line: print(line, file=sys.stderr),
            # Another folder of team files (tests, a platform repo of many teams).
            models_dir=Path(os.environ["MDLC_MODELS_DIR"]) if os.environ.get("MDLC_MODELS_DIR") else None,
            # Reserved concurrency of every team must fit it (default 1000; new accounts: often 10).
            lambda_concurrency_quota=parse_concurrency_quota(_context(app, "lambda_concurrency_quota")),
        )
    except TeamFileError as exc:
        # Fail before any template is written, with the file and field named.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    assembly = app.synth()
    try:
        # The decision path's modelled p99 and worst case, from the templates just written.
        check_budgets(assembly, built)
    except TeamFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
