"""`python -m mdlc.runtime_build`: build the job runtimes the team files use, or print the
oldest image Python (`make` calls both).

It sits above both `mdlc/runtimes.py` (what each image runs) and `mdlc/contract/` (which
reads the supported versions from runtimes), so neither imports the other's reader.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mdlc.contract import load_team
from mdlc.runtimes import (
    REPO_ROOT,
    Runtime,
    RuntimeUnavailable,
    build,
    lambda_runtime,
    oldest_python,
    runtime_for_algorithm,
)


def runtimes_in_use(team_files: list[Path]) -> list[Runtime]:
    """The runtimes the given team files' jobs run in (deduplicated, in order)."""
    found: dict[str, Runtime] = {}
    for path in team_files:
        runtime = runtime_for_algorithm(load_team(path).training.algorithm)
        found.setdefault(runtime.name, runtime)
    return list(found.values())


def main(argv: list[str] | None = None) -> int:
    """`python -m mdlc.runtime_build build [TEAM_FILE ...]`: build the runtimes in use (default: models/);
    `oldest-python`: print the oldest Python among the supported images."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["oldest-python"]:
        print(oldest_python())
        return 0
    if not args or args[0] != "build":
        print("usage: python -m mdlc.runtime_build build [TEAM_FILE ...] | oldest-python", file=sys.stderr)
        return 2
    files = [Path(a) for a in args[1:]] or sorted((REPO_ROOT / "models").glob("*.yaml"))
    try:
        for runtime in [*runtimes_in_use(files), lambda_runtime()]:
            build(runtime)
    except RuntimeUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
