"""The job-code bundle: reproducible bytes, every script, one import root."""

from __future__ import annotations

import ast
import tarfile

from mdlc import bundle


def test_bundle_is_byte_for_byte_reproducible(tmp_path):
    first = bundle.build_bundle(tmp_path / "a.tar.gz")
    second = bundle.build_bundle(tmp_path / "b.tar.gz")
    assert first == second
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        names = tar.getnames()
        assert {m.mtime for m in tar.getmembers()} == {0}
    assert bundle.TRAINING_PROGRAM in names and "mdlc/features/__init__.py" in names
    assert {"mdlc/features/ops.py", "mdlc/features/state.py"} <= set(names)  # the whole feature package
    assert "data_quality/job.py" in names and not any("__pycache__" in n for n in names)


def test_no_job_script_changes_the_import_path():
    """The bundle root is the import root (job_entrypoint, the toolkits put it on the path):
    a script that edits sys.path would hide a broken bundle layout."""
    offenders = []
    for path in sorted(bundle.JOBS_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                offenders.append(str(path.relative_to(bundle.REPO_ROOT)))
    assert offenders == []
