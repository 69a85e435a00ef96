"""The package's import graph: no circles, and no stage imports a later one (DESIGN §8).

Run it as a script to see the graph: `python tests/test_layering.py` prints each module's
seedpress imports, then every circle and upward import (none, or it exits 1).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "convert"

#: The stages in pipeline order; a module may import only from its own stage or an earlier one.
#: Foundation modules hold facts and small tools every stage uses.
STAGES = [
    ("foundation", ["convert", "convert.errors", "convert.layout", "convert.defaults", "convert.dates",
                    "convert.files", "convert.names", "convert.patterns", "convert.process", "convert.pandoc", "convert.web"]),
    ("document", ["convert.document"]),
    ("editions", ["convert.editions"]),
    ("build", ["convert.build"]),
    ("runners", ["convert.runners"]),
    ("archive", ["convert.archive"]),
    ("deposit", ["convert.deposit"]),
    ("publish", ["convert.publish"]),
    ("serve", ["convert.serve"]),
    ("commands", ["convert.jobs", "convert.config", "convert.cli"]),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every seedpress module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "convert")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "convert":
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).is_file() or \
                    (PACKAGE.parent / candidate.replace(".", "/") / "__init__.py").is_file()
                found.add(candidate if is_module else node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; seedpress imports absolutely")
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
    return {name: {target for target in imports_of(path) if target != name} for name, path in modules.items()}


def stage_of(module: str) -> int:
    best = None
    for rank, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            if module == prefix or (prefix != "convert" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    if best is None:
        raise AssertionError(f"{module} belongs to no stage: add it to STAGES")
    return best[0]


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return [f"{source} ({STAGES[stage_of(source)][0]}) imports {target} ({STAGES[stage_of(target)][0]})"
            for source, targets in sorted(edges.items()) for target in sorted(targets)
            if stage_of(target) > stage_of(source)]


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_belongs_to_a_stage():
    for module in graph():
        stage_of(module)


def test_no_stage_imports_a_later_one():
    assert upward_imports(graph()) == []


def test_no_import_circles():
    assert circles(graph()) == []


def test_each_module_names_its_job_in_its_docstring():
    for path in PACKAGE.rglob("*.py"):
        docstring = ast.get_docstring(ast.parse(path.read_text("utf-8")))
        assert docstring and docstring.strip(), f"{path} has no docstring naming its job"


def main() -> int:
    edges = graph()
    for module, targets in sorted(edges.items()):
        print(f"{module} [{STAGES[stage_of(module)][0]}] -> {', '.join(sorted(targets)) or '-'}")
    problems = upward_imports(edges) + [" -> ".join(group) for group in circles(edges)]
    print(f"\n{len(edges)} modules; circles: {len(circles(edges))}; upward imports: {len(upward_imports(edges))}")
    for problem in problems:
        print("  " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
