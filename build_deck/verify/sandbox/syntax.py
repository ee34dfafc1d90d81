"""Verification, the check sandbox: what a check may be written as, read before it runs.

:func:`read_check` parses a check and refuses, up front and with its line, one that is
too long or uses a statement of :data:`DENIED_SYNTAX` or a computed f-string format
spec; it rewrites generator expressions as list comprehensions, which asteval runs
(``sum(x * x for x in xs)`` as ``sum([x * x for x in xs])``).
"""

from __future__ import annotations

import ast
import re

from build_deck.verify.sandbox.wire import Outcome, _failure

MAX_CODE_LENGTH = 50_000
"""Characters one check may hold."""

MAX_FORMAT_WIDTH = 1000
"""Largest width or precision in an f-string's format spec."""

# Statements refused before a check runs, with the word the error names. asteval
# refuses most of them too (_ALLOWED_NODES); refusing them up front gives their line,
# and a check cannot run for a while before it reaches, say, a ``try``.
DENIED_SYNTAX: dict[type[ast.AST], str] = {
    ast.Import: "import",
    ast.ImportFrom: "import",
    ast.With: "with",
    ast.AsyncWith: "with",
    ast.Try: "try",
    ast.TryStar: "try",
    ast.Raise: "raise",
    ast.Delete: "del",
    ast.ClassDef: "class",
    ast.Global: "global",
    ast.Nonlocal: "nonlocal",
    ast.AsyncFunctionDef: "async def",
    ast.AsyncFor: "async for",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


def _denied_syntax(tree: ast.AST) -> tuple[tuple[str, int | None] | None, bool]:
    """The first statement a check may not use, as (what, line), or None; and whether the
    check holds a generator expression (one walk of the tree for both)."""
    generators = False
    for node in ast.walk(tree):
        word = DENIED_SYNTAX.get(type(node))
        if word is not None:
            return (f"'{word}' is not allowed in a check", getattr(node, "lineno", None)), False
        if isinstance(node, ast.GeneratorExp):
            generators = True
        elif isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            problem = _format_spec_problem(node.format_spec)
            if problem:
                return (problem, getattr(node, "lineno", None)), False
    return None, generators


def _format_spec_problem(spec: ast.expr) -> str | None:
    """Why an f-string's format spec is refused, or None: it must be written out, not
    computed (asteval formats it with rules of its own), and its widths small."""
    parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
    if not all(isinstance(p, ast.Constant) and isinstance(p.value, str) for p in parts):
        return "a computed format spec in an f-string is not allowed: write it out"
    text = "".join(str(p.value) for p in parts if isinstance(p, ast.Constant))
    if any(int(width) > MAX_FORMAT_WIDTH for width in re.findall(r"\d+", text)):
        return f"widths in an f-string's format spec are limited to {MAX_FORMAT_WIDTH}"
    return None


def read_check(code: str) -> ast.Module | Outcome:
    """The check's syntax tree, or the failure of a check that is too long, cannot be
    read or uses a statement a check may not use (:data:`DENIED_SYNTAX`)."""
    if len(code) > MAX_CODE_LENGTH:
        return _failure(0, f"the check is longer than {MAX_CODE_LENGTH} characters")
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return _failure(0, f"syntax error: {exc.msg}", exc.lineno)
    except (RecursionError, MemoryError, ValueError) as exc:
        return _failure(0, f"the check cannot be read ({type(exc).__name__}: {exc})")
    denied, generators = _denied_syntax(tree)
    if denied is not None:
        return _failure(0, *denied)
    if not generators:  # rewriting visits every node: only when there is one to rewrite
        return tree
    return _GeneratorsAsLists().visit(tree)  # type: ignore[no-any-return]


class _GeneratorsAsLists(ast.NodeTransformer):
    """``sum(x * x for x in xs)`` runs as ``sum([x * x for x in xs])``: asteval has no
    generator expressions, and a check's are short enough to be lists."""

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(ast.ListComp(elt=node.elt, generators=node.generators), node)
