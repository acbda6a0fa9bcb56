"""Import rules that keep DAG parsing cheap and the emulator out of the provider."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import check_imports  # noqa: E402


def test_operator_modules_load_no_azure_sdk() -> None:
    result = check_imports.measure()
    assert result["modules"], "no provider modules were found to import"
    assert result["azure"] == [], f"SDK modules loaded at import time: {result['azure']}"


def test_the_check_can_fail(tmp_path: Path) -> None:
    """A module importing the SDK at module level is reported."""
    (tmp_path / "offending_operator.py").write_text("import azure.storage.blob\n")
    result = check_imports.measure(extra_modules=("offending_operator",), pythonpath=str(tmp_path))
    assert "azure.storage.blob" in result["azure"]


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
