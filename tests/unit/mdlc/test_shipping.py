"""What ships to AWS (mdlc/shipping.py) is what the shipped code imports (product: a handler
or job script importing a project module left out of its asset fails in Lambda or in the
container with ModuleNotFoundError, never offline, unless this check catches it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mdlc import bundle, shipping
from mdlc.contract import REPO_ROOT
from stacks.common.lambda_function import stage_code

PROJECT_PACKAGES = ("mdlc", "lambdas", "stacks", "sagemaker_jobs")


def python_files(paths: tuple[str, ...]) -> list[Path]:
    files = []
    for rel in paths:
        path = REPO_ROOT / rel
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [f for f in files if "__pycache__" not in f.parts]


def project_imports(path: Path) -> set[str]:
    """Absolute imports of project modules (``from mdlc import features`` gives ``mdlc.features``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        found |= {n for n in names if n.split(".")[0] in PROJECT_PACKAGES}
    return found


def shipped(module: str, paths: tuple[str, ...], root: Path = REPO_ROOT) -> bool:
    """A module (or a name inside one) is shipped when its file or package is under a shipped path."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        rel = "/".join(parts[:end])
        for candidate in (f"{rel}.py", f"{rel}/__init__.py"):
            if (root / candidate).is_file():
                return any(candidate == p or candidate.startswith(p.rstrip("/") + "/") for p in paths)
    return False


def handler_folders() -> list[str]:
    return sorted(str(p.parent.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "lambdas").glob("*/*/handler.py"))


@pytest.mark.parametrize("folder", handler_folders())
def test_every_project_module_a_lambda_imports_is_in_its_asset(folder):
    stage = folder.split("/")[1]
    paths = (*shipping.LAMBDA, f"lambdas/{stage}/__init__.py", folder)
    missing = sorted(f"{f.relative_to(REPO_ROOT)} imports {m}" for f in python_files(paths)
                     for m in project_imports(f) if not shipped(m, paths))
    assert missing == [], "not in the Lambda asset (add it to mdlc/shipping.py LAMBDA):\n" + "\n".join(missing)


def test_every_project_module_a_job_script_imports_is_in_the_bundle():
    # Job scripts import their siblings from the bundle root (``import jobkit``, ``from
    # features import job``): those resolve under sagemaker_jobs/, the root itself.
    root_modules = {p.stem if p.is_file() else p.name for p in (REPO_ROOT / "sagemaker_jobs").iterdir()}
    missing = []
    for f in python_files(shipping.SAGEMAKER):
        for m in project_imports(f):
            if m.split(".")[0] in root_modules:
                continue
            if not shipped(m, shipping.SAGEMAKER):
                missing.append(f"{f.relative_to(REPO_ROOT)} imports {m}")
    assert missing == [], "not in the job bundle (add it to mdlc/shipping.py SAGEMAKER):\n" + "\n".join(missing)


def test_the_check_sees_an_unshipped_import(tmp_path):
    """Guards the check above (not the product): an import outside the shipped paths is named."""
    (tmp_path / "mdlc").mkdir()
    (tmp_path / "mdlc" / "__init__.py").write_text("")
    (tmp_path / "mdlc" / "contract.py").write_text("")
    (tmp_path / "mdlc" / "features.py").write_text("")
    assert shipped("mdlc.features.value", ("mdlc/features.py",), root=tmp_path)
    assert not shipped("mdlc.contract.load_team", ("mdlc/features.py",), root=tmp_path)


def test_the_lambda_asset_and_the_job_bundle_hold_exactly_what_shipping_names(tmp_path):
    spec = tmp_path / "team.json"
    spec.write_text("{}")
    target = stage_code("realtime", "decide", tmp_path / "build", spec)
    staged = {str(p.relative_to(target)) for p in target.rglob("*.py")}
    expected = {str(f.relative_to(REPO_ROOT)) for f in python_files(
        (*shipping.LAMBDA, "lambdas/realtime/__init__.py", "lambdas/realtime/decide"))}
    assert staged == expected
    bundled = {name for name, _ in bundle.bundle_files()}
    assert {f"mdlc/{p.removeprefix('mdlc/')}" for p in
            (str(f.relative_to(REPO_ROOT)) for f in python_files(shipping.SHARED_MDLC))} <= bundled
