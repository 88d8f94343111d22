#!/usr/bin/env python3
"""Refresh the exact pins of the requirements files to the newest releases that install together.

    python scripts/upgrade_pins.py [--dry-run]        (`make upgrade` runs it, then `make test`)

For each file below, the names it pins (extras kept) are installed without versions into a
scratch virtualenv of the Python that file is installed on (requirements.txt with
pyproject.toml's ranges, which stay the library's supported ranges), and each ``==`` version
is rewritten to the one pip resolved; comments, order and layout stay. A line that is not an
exact pin is an error: every line is pinned.

Not refreshed: the SageMaker image runtimes (``runtimes/xgboost-*``), whose pins are the
image's packages, not the newest releases.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: A pinned requirement line: name, extras, version, then spaces and an optional comment.
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?==(?P<version>[^\s#;]+)(?P<rest>.*)$")


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(text: str, source: str = "requirements") -> list[str]:
    """The requirements a file pins (``name[extras]``), refusing any line that is not ``==``."""
    names = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = PIN.match(stripped)
        if match is None:
            raise ValueError(f"{source}:{number}: {stripped!r} is not an exact pin (name==version); "
                             "every requirement line is pinned")
        names.append(match["name"] + (match["extras"] or ""))
    return names


def repin(text: str, versions: dict[str, str], source: str = "requirements") -> str:
    """``text`` with each pin set to ``versions[canonical name]``; everything else unchanged."""
    out = []
    for line in text.splitlines(keepends=True):
        match = PIN.match(line.strip()) if line.strip() and not line.lstrip().startswith("#") else None
        if match is not None:
            key = canonical(match["name"])
            if key not in versions:
                raise KeyError(f"{source}: pip resolved no version of {match['name']}")
            old = f"{match['name']}{match['extras'] or ''}=={match['version']}"
            new = f"{match['name']}{match['extras'] or ''}=={versions[key]}"
            line = line.replace(old, new, 1)
        out.append(line)
    return "".join(out)


def resolve(python: Path, requirements: list[str]) -> dict[str, str]:
    """The versions pip installs for ``requirements`` (no pins) into a scratch virtualenv of ``python``."""
    with tempfile.TemporaryDirectory(prefix="mdlc-upgrade-") as scratch:
        subprocess.run([str(python), "-m", "venv", scratch], check=True)
        pip = [str(Path(scratch) / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        subprocess.run([*pip, "install", "--quiet", *requirements], check=True)
        listed = subprocess.run([*pip, "list", "--format=json"], check=True, capture_output=True, text=True)
    return {canonical(p["name"]): p["version"] for p in json.loads(listed.stdout)}


def targets() -> list[tuple[Path, Path, list[str]]]:
    """(requirements file, interpreter it is installed with, extra requirements for the resolver)."""
    sys.path.insert(0, str(REPO))
    from mdlc.runtimes import lambda_runtime

    ranges = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    checkov = REPO / ".venv-checkov" / "bin" / "python"
    return [
        (REPO / "requirements.txt", Path(sys.executable), list(ranges)),
        (REPO / "requirements-checkov.txt", checkov if checkov.exists() else Path(sys.executable), []),
        (REPO / "runtimes" / "lambda-python" / "requirements.txt", lambda_runtime().require_built(), []),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the new pins, write nothing")
    args = parser.parse_args(argv)
    for path, python, extra in targets():
        text = path.read_text()
        source = str(path.relative_to(REPO))
        versions = resolve(python, [*pinned(text, source), *extra])
        updated = repin(text, versions, source)
        changed = [(a, b) for a, b in zip(text.splitlines(), updated.splitlines(), strict=True) if a != b]
        print(f"{source}: {len(changed)} pin(s) changed")
        for old, new in changed:
            print(f"  {old.split('#')[0].strip()} -> {new.split('#')[0].strip()}")
        if not args.dry_run:
            path.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
