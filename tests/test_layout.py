"""The layout shows the pipeline: stages import one way, and no room outgrows a reader."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "build_deck"

LAYERS = [
    "__init__",
    "files",
    "model",
    "config",
    "storage",
    "cache",
    "card_cache",
    "parse",
    "lint",
    "verify",
    "anki",
    "report",
    "freshness",
    "gather",
    "reading",
    "identity",
    "pipeline",
    "typeset",
    "watch",
    "anki_commands",
    "adopt_command",
    "project",
    "cli",
    "__main__",
]
"""Each stage (a package, or a module at the top) imports only the stages before it."""

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 250


def _stage(module: str) -> str:
    """``build_deck.parse.extract`` -> ``parse``; ``build_deck`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """The build_deck modules a file imports (at any depth, type-checking ones too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("build_deck")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "build_deck":
                for alias in node.names:
                    is_module = (PACKAGE / f"{alias.name}.py").exists() or (
                        PACKAGE / alias.name
                    ).is_dir()
                    found.add(f"build_deck.{alias.name}" if is_module else "build_deck")
            elif node.module.startswith("build_deck."):
                found.add(node.module)
    return found


def _name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = (
        relative.parts[:-1]
        if relative.name == "__init__" and len(relative.parts) > 2
        else relative.parts
    )
    return ".".join(parts)


def test_every_stage_is_in_the_layers() -> None:
    stages = {_stage(_name(path)) for path in _modules()}
    assert stages == set(LAYERS), stages ^ set(LAYERS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path: Path) -> None:
    own = LAYERS.index(_stage(_name(path)))
    upward = sorted(m for m in _imports(path) if LAYERS.index(_stage(m)) > own)
    assert upward == [], f"{path.name} imports a later stage"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_rooms_fit_a_reader(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{lines} lines"
    too_big = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            limit = MAX_FUNCTION_LINES
        elif isinstance(node, ast.ClassDef):
            limit = MAX_CLASS_LINES
        else:
            continue
        size = (node.end_lineno or node.lineno) - node.lineno + 1
        if size > limit:
            too_big.append(f"{node.name}: {size} lines")
    assert too_big == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_names_its_stage(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"{path.name} has no module docstring"
