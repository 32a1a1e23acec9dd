"""No function over 60 lines outside benchmarks/ and tests/ (issue 27).

A function that does not fit on one screen is doing several jobs; the limit keeps each one
readable in a single view.  Read from the source with ``ast`` (nothing is imported), so the
check costs milliseconds and sees every function, methods and nested functions included.
``python tests/test_function_length.py`` prints the longest functions.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contract", "hinr", "sweeps", "analysis")
SCRIPTS = ("launch.py",)
MAX_LINES = 60  # decorators excluded, docstring included


def source_files(root: Path = ROOT) -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))]
    return files + [root / s for s in SCRIPTS if (root / s).is_file()]


def function_lengths(path: Path) -> list[tuple[str, int, int]]:
    """(qualified name, first line, length in lines) of every function in ``path``."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                found.append((name, child.lineno, child.end_lineno - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(), filename=str(path)), "")
    return found


def long_functions(root: Path = ROOT, limit: int = MAX_LINES) -> list[str]:
    return [f"{path.relative_to(root)}:{line} {name} ({length} lines)"
            for path in source_files(root)
            for name, line, length in function_lengths(path) if length > limit]


def test_no_function_over_the_limit():
    assert long_functions() == [], f"functions over {MAX_LINES} lines"


def test_the_check_sees_a_long_function(tmp_path):
    # The check itself must be able to fail: a 61-line function in a package is found.
    (tmp_path / "hinr").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    (tmp_path / "hinr" / "long.py").write_text(f"class A:\n  def f(self):\n{body}\n")
    assert long_functions(tmp_path) == ["hinr/long.py:2 A.f (61 lines)"]


if __name__ == "__main__":
    for path in source_files():
        for name, line, length in function_lengths(path):
            if length > 45:
                print(f"{length:4d}  {path.relative_to(ROOT)}:{line} {name}")
    sys.exit(1 if long_functions() else 0)
