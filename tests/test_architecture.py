"""The package's imports point one way: no cycle, and nothing imports the entry points."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Dict, Set

from helpers import REPO

PACKAGE = REPO / "espnet_reuse"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> Dict[str, Set[str]]:
    """Module -> the package's modules it imports, at any depth of its code."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def test_no_import_cycle():
    graph = imports()
    # a package's __init__ is imported with any of its modules: not an arrow back
    without_init = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    try:
        tuple(TopologicalSorter(without_init).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


def test_nothing_imports_the_entry_points():
    arrows = [
        f"{m} -> {t}"
        for m, targets in imports().items()
        for t in targets
        if t.startswith("espnet_reuse.bin") and not m.startswith("espnet_reuse.bin")
    ]
    assert arrows == []


def test_the_graph_sees_imports_inside_functions():
    assert "espnet_reuse.encoder.families" in imports()["espnet_reuse.registration"]


def test_the_map_producer_and_its_consumer_meet_at_its_owner():
    graph = imports()
    owner = "espnet_reuse.encoder.shared_map"
    for user in ("rel_position_attention", "shared_map_attention", "reuse"):
        assert owner in graph[f"espnet_reuse.encoder.{user}"], user
