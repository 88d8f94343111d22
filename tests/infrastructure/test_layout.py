"""One stage, one name: each stage's stack, Lambdas and tests share its name, and no stage
imports another (checks the product's layout and its synthesised templates)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mdlc.contract import REPO_ROOT
from mdlc.impact import IMPACT

STACKS = REPO_ROOT / "stacks"
LAMBDAS = REPO_ROOT / "lambdas"
NOT_STAGES = {"common", "shared", "__pycache__"}


def stages(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and p.name not in NOT_STAGES}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (``from x import y`` gives ``x`` and ``x.y``)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_every_lambda_stage_is_a_stack_stage():
    assert stages(LAMBDAS), "lambdas/ has no stage folders"
    assert stages(LAMBDAS) <= stages(STACKS), (
        f"lambdas/ stages without a stacks/ stage: {sorted(stages(LAMBDAS) - stages(STACKS))}")


def test_no_handler_sits_outside_a_stage_folder():
    loose = sorted(p.parent.name for p in LAMBDAS.glob("*/handler.py"))
    assert loose == [], f"handlers directly under lambdas/ (expected lambdas/<stage>/<name>/): {loose}"


@pytest.mark.parametrize("package,root", [("stacks", STACKS), ("lambdas", LAMBDAS)])
def test_no_stage_imports_another_stage(package, root):
    all_stages = stages(root)
    assert all_stages
    crossings = []
    for stage in sorted(all_stages):
        for path in sorted((root / stage).rglob("*.py")):
            for module in imported_modules(path):
                parts = module.split(".")
                if len(parts) > 1 and parts[0] == package and parts[1] in all_stages - {stage}:
                    crossings.append(f"{path.relative_to(REPO_ROOT)} imports {module}")
    assert crossings == [], "\n".join(crossings)


def test_the_import_check_sees_a_crossing(tmp_path):
    """The AST walk above finds both import forms (guards the check, not the product)."""
    sample = tmp_path / "construct.py"
    sample.write_text("from stacks.batch.functions import x\nimport stacks.training.construct\n")
    assert {"stacks.batch.functions", "stacks.training.construct"} <= imported_modules(sample)


def project_functions(assembly):
    """(stack name, logical id, properties, template) of every project Lambda function."""
    for stack_name, template in assembly.templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            if (resource["Type"] == "AWS::Lambda::Function"
                    and "mdlc:source" in (resource.get("Metadata") or {})):
                yield stack_name, logical_id, resource["Properties"], template


def test_each_handler_path_names_the_stage_of_the_stack_that_deploys_it(assembly):
    functions = list(project_functions(assembly))
    assert functions
    for stack_name, logical_id, props, _ in functions:
        stage = stack_name.rsplit("-", 1)[1]
        package, handler_stage, name, module, function = props["Handler"].split(".")
        assert (package, module, function) == ("lambdas", "handler", "handler"), logical_id
        assert handler_stage == stage, (
            f"{stack_name}/{logical_id}: handler {props['Handler']} is not in lambdas/{stage}/")
        assert (LAMBDAS / stage / name / "handler.py").is_file(), props["Handler"]


def test_deployed_names_do_not_carry_the_stage_folder(assembly):
    """Log group, Powertools service and role description keep the function's own name, so
    moving handlers into stage folders orphaned no retained log group."""
    for _, _, props, template in project_functions(assembly):
        name = props["Handler"].split(".")[2]
        team = props["Environment"]["Variables"]["MDLC_TEAM"]
        assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == f"{team}-{name}"
        log_group = template["Resources"][props["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_group["Properties"]["LogGroupName"] == f"/aws/vendedlogs/{team}/lambda/{name}"
        role_id = props["Role"]["Fn::GetAtt"][0]
        assert template["Resources"][role_id]["Properties"]["Description"] == f"{team} Lambda {name}"


def handler_folders() -> list[Path]:
    return sorted(p.parent for p in LAMBDAS.glob("*/*/handler.py"))


def test_every_handler_has_a_sample_event_and_a_fast_test_using_it():
    """``lambdas/<stage>/<name>/event.json`` is the fixture of
    ``tests/unit/lambdas/<stage>/test_<name>.py`` (loaded by its ``event`` fixture)."""
    missing = []
    for folder in handler_folders():
        stage, name = folder.parent.name, folder.name
        test = REPO_ROOT / "tests" / "unit" / "lambdas" / stage / f"test_{name}.py"
        if not (folder / "event.json").is_file():
            missing.append(f"lambdas/{stage}/{name}/event.json")
        if not test.is_file() or "event" not in test.read_text():
            missing.append(f"tests/unit/lambdas/{stage}/test_{name}.py (using the event fixture)")
    assert handler_folders() and missing == [], "\n".join(missing)


CITED = re.compile(r"`((?:stacks|lambdas|sagemaker_jobs|mdlc|tests)/[^`*<>]*)`")


@pytest.mark.parametrize("stage", sorted(stages(STACKS)))
def test_each_stage_readme_names_its_lambdas_team_file_sections_and_existing_files(stage):
    readme = STACKS / stage / "README.md"
    assert readme.is_file(), f"stacks/{stage}/README.md is missing"
    text = readme.read_text()
    lambdas = sorted(p.parent.name for p in (LAMBDAS / stage).glob("*/handler.py"))
    sections = sorted(key for key, impact in IMPACT.items() if stage in impact.stacks)
    missing = [f"`{name}`" for name in [*lambdas, *sections] if f"`{name}`" not in text]
    stale = [path for path in CITED.findall(text) if not (REPO_ROOT / path).exists()]
    assert (missing, stale) == ([], []), f"stacks/{stage}/README.md: not named {missing}; no such file {stale}"


# -- the documentation: a landing page and links that resolve (product docs a user follows) ---
README_LIMIT = 12 * 1024
DOCS = sorted([REPO_ROOT / "README.md", REPO_ROOT / "CHANGELOG.md", *(REPO_ROOT / "docs").glob("*.md"),
               *STACKS.glob("*/README.md"), REPO_ROOT / "mdlc" / "harness" / "README.md"])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", markdown, flags=re.M)}


def test_readme_is_a_landing_page_within_its_size():
    size = len((REPO_ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size:,} bytes, over {README_LIMIT:,}: move details into docs/"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_of_the_documentation_resolves(doc):
    text = doc.read_text()
    broken = []
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text()):
            broken.append(target)
    assert broken == [], f"{doc.relative_to(REPO_ROOT)}: links that resolve to nothing: {broken}"


# -- the tests mirror the code: a stage is findable in every tier (checks the project's layout) ---
TESTS = REPO_ROOT / "tests"
SOURCE_ROOTS = ("mdlc", "stacks", "lambdas", "sagemaker_jobs", "scripts", "app.py", "bench")
MAX_SOURCE_LINES = 600


@pytest.mark.parametrize("stage", sorted(stages(STACKS)))
def test_each_stage_has_a_test_in_every_tier(stage):
    expected = [TESTS / "infrastructure" / f"test_{stage}_stack.py",
                TESTS / "integration" / f"test_{stage}_workflow.py"]
    if (LAMBDAS / stage).is_dir():
        expected.append(TESTS / "unit" / "lambdas" / stage)
    missing = [str(p.relative_to(REPO_ROOT)) for p in expected if not p.exists()]
    assert missing == [], f"stage {stage!r} has no test at {missing}"


def test_unit_tests_sit_in_a_folder_named_after_the_code_they_test():
    """tests/unit/<package>/…: harness tests under tests/unit/harness/, and nothing flat."""
    flat = sorted(p.name for p in (TESTS / "unit").glob("test_*.py"))
    assert flat == [], f"flat unit tests (move them under tests/unit/<package>/): {flat}"
    packages = {p.name for p in (TESTS / "unit").iterdir() if p.is_dir() and p.name != "__pycache__"}
    sources = {"harness", "mdlc", "stacks", "lambdas", "sagemaker_jobs", "scripts"}
    assert packages <= sources, f"tests/unit folders that mirror no source package: {sorted(packages - sources)}"


def test_every_test_file_name_is_unique():
    names: dict[str, list[str]] = {}
    for path in TESTS.rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(REPO_ROOT)))
    twice = {name: paths for name, paths in names.items() if len(paths) > 1}
    assert twice == {}, f"test files sharing a name: {twice}"


def test_no_source_file_is_over_the_size_a_reader_can_hold():
    sources = [p for root in SOURCE_ROOTS for p in
               ([REPO_ROOT / root] if root.endswith(".py") else (REPO_ROOT / root).rglob("*.py"))]
    assert sources
    long = sorted(f"{p.relative_to(REPO_ROOT)}: {n} lines" for p in sources
                  if (n := len(p.read_text().splitlines())) > MAX_SOURCE_LINES)
    assert long == [], f"source files over {MAX_SOURCE_LINES} lines (split them by concern): {long}"
