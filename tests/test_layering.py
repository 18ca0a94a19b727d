"""The import direction of the layers, read from the source: every import points down.

app -> services -> graphs -> agents -> tools -> lakehouse -> models -> policies -> core.
The CLI (``app``) is a thin shell: it may import only ``services`` and ``core`` (the HTTP API
and the MCP server, when they land in ``app``, follow the same rule), so every entry point
gets the same policy checks, audit entries and traces. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("app", "services", "graphs", "agents", "tools", "lakehouse", "models", "policies", "core")
ONLY = {"app": {"app", "services", "core"}}  # thin shells


def imported_layers(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) for every project import in a file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        found += [(node.lineno, name.split(".")[0]) for name in names if name.split(".")[0] in LAYERS]
    return found


def violations(layer: str) -> list[str]:
    rank = LAYERS.index(layer)
    allowed = ONLY.get(layer, {layer, *LAYERS[rank + 1 :]})
    return [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for line, target in imported_layers(path)
        if target not in allowed
    ]


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_point_down(layer: str) -> None:
    assert violations(layer) == []


def test_the_scanner_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import os\nfrom core.errors import SageError\n\ndef f():\n    from lakehouse.query import QueryEngine\n    import models.zoo\n")
    assert imported_layers(source) == [(2, "core"), (5, "lakehouse"), (6, "models")]


def test_the_readme_diagram_matches() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "app → services → graphs → agents → tools → lakehouse → models → policies → core" in readme
