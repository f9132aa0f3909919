"""The CI gates that are not behaviour: layers, types, lint, format, structure, dead code.

They run as tests so the one test command (`pytest -q`, what `.ci/run` runs) is
the whole CI; each calls the tool the way a developer would on the command line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STRUCTURE_TOOL = ROOT.parent / "shared" / "tools" / "structure.py"


def run(*command: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_clean(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, f"{' '.join(done.args)}\n{done.stdout}\n{done.stderr}"


def test_layers_point_down() -> None:
    """import-linter's layers contract (pyproject.toml): custstats > api > projector > events."""
    assert_clean(run(BIN / "lint-imports", "--no-cache"))


def test_mypy_strict() -> None:
    """mypy strict over the packages and the tests (settings in pyproject.toml)."""
    assert_clean(run(sys.executable, "-m", "mypy", timeout=600))


def test_ruff_lint() -> None:
    assert_clean(run(sys.executable, "-m", "ruff", "check", "."))


def test_ruff_format() -> None:
    assert_clean(run(sys.executable, "-m", "ruff", "format", "--check", "."))


def test_no_dead_code() -> None:
    """vulture at confidence 80 (paths and threshold in pyproject.toml)."""
    assert_clean(run(BIN / "vulture"))


@pytest.mark.skipif(not STRUCTURE_TOOL.exists(), reason=f"{STRUCTURE_TOOL} not in this checkout")
def test_structure_has_no_findings() -> None:
    """Functions <= 60 lines, modules <= 400, layers: the shared structure checker."""
    assert_clean(run(sys.executable, STRUCTURE_TOOL, "."))
