"""``mdlc bootstrap``: a team's own CDK bootstrap (qualifier, execution policy, boundary)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click


def register(main: click.Group, local: click.Group) -> None:
    main.add_command(bootstrap)


@click.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--stage", default="dev", show_default=True,
              help="Stage whose account and region to bootstrap (environments.STAGE of the team file).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Directory for the policies and template [default: build/bootstrap/NAME/STAGE].")
@click.option("--models-dir", type=click.Path(path_type=Path), default=None, hidden=True)
def bootstrap(model: str, stage: str, out: Path | None, models_dir: Path | None) -> None:
    """Write the team's CloudFormation execution policy, permissions boundary and bootstrap
    template for STAGE, generated from its synthesised templates, and print the commands
    that create them (the policies reach only this team's resources)."""
    from mdlc.bootstrap import plan_bootstrap, qualifier, toolkit_stack_name
    from mdlc.contract import REPO_ROOT, TeamFileError

    out = out or REPO_ROOT / "build" / "bootstrap" / model / stage
    try:
        with tempfile.TemporaryDirectory(prefix="mdlc-bootstrap-") as tmp:
            plan = plan_bootstrap(model, stage, Path(tmp) / "cdk.out", models_dir=models_dir)
            commands = plan.write(out)
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    d = plan.deployment
    click.echo(f"# {model} ({stage}): account {d.account}, region {d.region}, qualifier {d.qualifier}"
               f"{'' if d.qualifier == qualifier(model) else ' (pipeline.bootstrap_qualifier)'}, "
               f"toolkit stack {toolkit_stack_name(model)}; {len(d.templates)} stacks, "
               f"{len(d.resource_types)} resource types. Files in {out}.")
    _, star, unknown = d.actions()
    click.echo(f"# Allowed on '*' (AWS's reference gives them no resource type; review them for a shared "
               f"account): {', '.join(star)}")
    if unknown:
        click.echo(f"# Listed by the resource providers but unknown to AWS's reference (scoped to the team's "
                   f"names like the others): {', '.join(unknown)}")
    click.echo("# Run with credentials of an administrator of that account, in this order:")
    for command in commands:
        click.echo(command)
