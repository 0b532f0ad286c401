"""The package's layers import downwards only: data ← model ← engine ← representation/semi/strategies ← recipes ← learner ← ui.

Read from the source (every ``import``, at module level or inside a function), so a new
upward import fails here by file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "alwidget"

#: What each layer must never import (the layers above it).
FORBIDDEN = {
    "data": {"model", "engine", "representation", "semi", "strategies", "recipes", "learner", "judge", "ui", "trust"},
    "model": {"engine", "representation", "semi", "strategies", "recipes", "learner", "judge", "ui", "trust"},
    "engine": {"representation", "semi", "strategies", "recipes", "learner", "judge", "ui", "trust"},
    "recipes": {"learner", "ui"},
}


def _type_only(tree: ast.AST) -> set:
    """Nodes inside ``if TYPE_CHECKING:`` blocks (imports for annotations only)."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def imports_of(source: str, rel: Path):
    """``(line, top-level alwidget subpackage)`` of every import of the package in ``source``, the
    text of the module at ``rel`` (a path relative to ``alwidget/``)."""
    tree = ast.parse(source)
    typing_only = _type_only(tree)
    depth = len(rel.parts) - 1  # folders below alwidget/
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module is None and node.level - 1 == depth:
            for alias in node.names:  # ``from .. import engine``
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.level == 0 and node.module.split(".")[0] == "alwidget":
                parts = node.module.split(".")[1:]
            elif node.level > 0 and node.level - 1 == depth:  # relative to alwidget/ itself
                parts = node.module.split(".")
            elif node.level > 0 and node.level - 1 < depth:  # inside the same subpackage
                parts = list(rel.parts[: depth - (node.level - 1)]) + node.module.split(".")
            else:
                continue
            if parts:
                yield node.lineno, parts[0]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "alwidget" and len(parts) > 1:
                    yield node.lineno, parts[1]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_above_it(layer):
    upward = [f"{path.relative_to(PACKAGE)}:{line} imports alwidget.{target}"
              for path in sorted((PACKAGE / layer).rglob("*.py"))
              for line, target in imports_of(path.read_text(), path.relative_to(PACKAGE))
              if target in FORBIDDEN[layer]]
    assert not upward, "\n".join(upward)


def test_the_check_sees_upward_imports_and_skips_annotations():
    rel = Path("model/features.py")
    source = (PACKAGE / rel).read_text()
    assert "engine" not in {t for _, t in imports_of(source, rel)}
    late = source + "\n\ndef _late():\n    from ..engine import create_engine\n"
    assert "engine" in {t for _, t in imports_of(late, rel)}
    assert "engine" in {t for _, t in imports_of("import alwidget.engine.tasks\n", rel)}
    assert "engine" in {t for _, t in imports_of("from .. import engine\n", rel)}
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..engine import Engine\n"
    assert "engine" not in {t for _, t in imports_of(typed, rel)}
    assert {t for _, t in imports_of("from .tensors import PoolTensors\n", Path("data/pool.py"))} == {"data"}
