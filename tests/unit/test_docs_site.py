"""The documentation site builds strict, renders its API reference without raw reST, and works from files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

#: reST that Markdown renders verbatim: cross-reference roles, directives, grid/simple table rules.
RAW_REST = re.compile(
    r":(?:py:)?(?:class|meth|func|mod|attr|exc|obj|data|const):`|^\s*\.\. \w+::|={5,}\s+={5,}", re.M
)
_TAGS = re.compile(r"<[^>]+>")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO_ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_no_raw_rest_in_the_built_pages(site: Path) -> None:
    found = {}
    for page in site.rglob("*.html"):
        text = _TAGS.sub("", page.read_text())
        if hits := RAW_REST.findall(text):
            found[str(page.relative_to(site))] = hits[:5]
    assert not found, found


def test_the_reference_documents_the_public_api(site: Path) -> None:
    text = (site / "reference.html").read_text()
    for name in ("ServiceSettings", "BlobSplitOperator", "BatchRunTasksOperator", "emit_blob_assets"):
        assert name in text, name


def test_pages_link_to_files_not_folders(site: Path) -> None:
    """Opened from files, a link to ``page/`` lands on a directory listing; every page is ``page.html``."""
    assert (site / "connections.html").is_file() and not (site / "connections").is_dir()
    index = (site / "index.html").read_text()
    internal = re.findall(r'href="(?!https?:|#|mailto:)([^"]+)"', index)
    assert internal
    folders = [h for h in internal if h.split("#")[0].endswith("/") and not h.startswith("assets")]
    assert not folders, folders
