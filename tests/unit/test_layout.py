"""The package's layout rules, read from its source: what may import the embedded AWS, no import
cycles, no module that shadows the standard library or outgrows a screenful of screens.

Imports are read with `ast`, function-level ones included: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackops.paths import ROOT

PACKAGE = ROOT / "stackops"
LOCAL = "stackops.local"  # the embedded AWS: only for the emulated environment
# The entry point's helper that decides "emulated or real" (stackops/cli.py says why).
MAY_IMPORT_LOCAL = {"stackops.cli"}
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_local(name: str) -> bool:
    return name == LOCAL or name.startswith(LOCAL + ".")


def imported(name: str) -> Iterator[str]:
    """Every stackops module `name` imports, anywhere in its body (`from x import y` counts y when it is a module)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (
                importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                if node.level
                else node.module or ""
            )
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target.startswith("stackops"):
                yield target


GRAPH = {name: sorted(set(imported(name)) - {name}) for name in MODULES}


def test_the_layout_is_what_the_rules_read():
    # Guards the test itself: the rules below must be reading the real package.
    assert {"stackops.cli", "stackops.stack", "stackops.local.emulator", "stackops.local.aws.server"} <= set(MODULES)
    assert "stackops.local.emulator" in GRAPH["stackops.local.up"]


def test_real_aws_code_never_imports_the_embedded_aws():
    offenders = {
        name: [target for target in targets if is_local(target)]
        for name, targets in GRAPH.items()
        if not is_local(name) and name not in MAY_IMPORT_LOCAL
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_importing_real_aws_modules_loads_neither_the_embedded_aws_nor_moto():
    real = [name for name in MODULES if not is_local(name)]
    probe = (
        "import importlib, json, sys\n"
        "found = {}\n"
        f"for name in {real!r}:\n"
        "    importlib.import_module(name)\n"
        "    loaded = sorted(m for m in sys.modules if m.startswith(('stackops.local', 'moto')))\n"
        "    if loaded:\n"
        "        found[name] = loaded[:3]\n"
        "        break\n"
        "print(json.dumps(found))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(result.stdout) == {}


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, []):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert cycles({"a": ["b"], "b": []}) == []


def test_no_import_cycles():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name: str):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines: split it by what it holds"


def test_no_module_shadows_the_standard_library():
    shadowing = sorted(name for name in MODULES if name.rpartition(".")[2] in sys.stdlib_module_names)
    assert shadowing == []


def test_root_is_defined_once():
    defining = sorted(
        name
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ROOT" for t in node.targets)
    )
    assert defining == ["stackops.paths"]
