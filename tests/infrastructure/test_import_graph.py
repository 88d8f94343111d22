"""No import circles: the modules of ``mdlc/``, ``stacks/``, ``lambdas/`` and ``sagemaker_jobs/``
form a graph without cycles, so each module can be read (and imported) after the ones below it.

Every import counts, wherever it sits: module top, ``if TYPE_CHECKING:`` blocks, inside functions
and at the bottom of a file. A circle is broken by moving the shared piece into a module both
sides import, never by hiding an import.
"""

from __future__ import annotations

import ast
from pathlib import Path

from mdlc.contract import REPO_ROOT

# package roots: (folder, the name its modules are imported under; "" = the folder is the import
# root, as sagemaker_jobs/ is inside the SageMaker containers and on pytest's pythonpath)
ROOTS = [("mdlc", "mdlc"), ("stacks", "stacks"), ("lambdas", "lambdas"), ("sagemaker_jobs", "")]


def module_name(path: Path, folder: str, prefix: str) -> str:
    parts = list(path.relative_to(REPO_ROOT / folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(([prefix] if prefix else []) + parts)


def project_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for folder, prefix in ROOTS:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            if "__pycache__" not in path.parts:
                modules[module_name(path, folder, prefix)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports: ``from pkg import sub`` gives ``pkg.sub`` when that
    is a module, else ``pkg``; relative imports are resolved against ``name``'s package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                found.add(candidate if candidate in modules else base)
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def a_cycle(graph: dict[str, set[str]], members: list[str]) -> list[str]:
    """A shortest path first → … → first inside one component (breadth first)."""
    inside = set(members)
    start = members[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & inside):
                if child == start:
                    path = [start]
                    while node != start:
                        path.append(node)
                        node = previous[node]
                    return [start] + path[1:][::-1] + [start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {members}")


def describe(graph: dict[str, set[str]], components: list[list[str]]) -> str:
    return "\n".join(
        f"{' → '.join(a_cycle(graph, members))}  (circle of {len(members)}: {', '.join(members)})"
        for members in components
    )


def test_the_graph_sees_type_only_in_function_and_relative_imports():
    graph = import_graph()
    assert "mdlc.harness.offline" in graph and "stacks.team" in graph and "jobkit" in graph
    # a package's own __init__ re-exports count as imports of that package's modules
    assert "mdlc.harness.offline" in graph["mdlc.harness"]


def test_cycle_finder_reports_a_circle_as_a_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_import_circles():
    graph = import_graph()
    components = strongly_connected(graph)
    assert components == [], f"{len(components)} import circle(s):\n{describe(graph, components)}"
