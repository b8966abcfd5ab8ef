"""The package's modules form layers: no import cycle, type-only imports
included (a cycle hidden under ``TYPE_CHECKING`` is still one to a reader)."""

from __future__ import annotations

import ast
from pathlib import Path

import flask_rivo

PACKAGE = Path(flask_rivo.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The flask_rivo modules ``path`` imports, at any depth of the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [f"{target}.{alias.name}" for alias in node.names]
            found.update([*candidates, target])
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("flask_rivo")}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or ``None``."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(edges[node]):
            found = visit(target, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(edges):
        found = visit(start, [])
        if found:
            return found
    return None


def test_no_module_imports_its_way_back_to_itself() -> None:
    edges = graph()
    # A package's __init__ only re-exports: importing a sibling through it is
    # importing that sibling, so the edge into the package is dropped.
    packages = {
        name
        for name in edges
        if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()
    }
    trimmed = {name: targets - packages for name, targets in edges.items()}
    assert cycle(trimmed) is None


def test_the_check_sees_a_cycle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
