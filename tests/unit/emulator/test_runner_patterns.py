"""Output file patterns: wildcards, dotfiles, blob naming and the task-directory boundary."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_azure_compute.emulator.batch.run_blob import should_upload
from airflow_azure_compute.emulator.batch.run_patterns import (
    compile_pattern,
    has_wildcard,
    match_output_files,
    split_pattern,
)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.txt", "a.txt", True),
        ("*.txt", "sub/a.txt", False),
        ("*.txt", ".hidden.txt", False),
        (".*.txt", ".hidden.txt", True),
        ("**/*.txt", "a.txt", True),
        ("**/*.txt", "x/y/z.txt", True),
        ("**/*.txt", ".git/z.txt", False),
        ("**", "x/y/z.bin", True),
        ("**", "x/.y", False),
        ("file?.csv", "file1.csv", True),
        ("file?.csv", "file10.csv", False),
        ("[ab].txt", "a.txt", True),
        ("[ab].txt", "c.txt", False),
        ("[!ab].txt", "c.txt", True),
        ("[!ab].txt", "a.txt", False),
        ("out/**/part-*", "out/1/part-0", True),
        ("out/**/part-*", "out/part-0", True),
        ("a+b(*).txt", "a+b(1).txt", True),
        ("**\\*.log", "x/y.log", True),
        ("a[b.txt", "a[b.txt", True),
        ("a[b.txt", "ab.txt", False),
    ],
)
def test_compile_pattern(pattern: str, path: str, expected: bool) -> None:
    assert bool(compile_pattern(pattern).fullmatch(path)) is expected


@given(
    pattern=st.text(alphabet="ab*?[]!", min_size=1, max_size=8),
    name=st.text(alphabet="ab.", min_size=1, max_size=8).filter(lambda n: not n.startswith(".")),
)
def test_one_segment_agrees_with_fnmatch(pattern: str, name: str) -> None:
    """Away from dotfiles, one segment matches exactly as ``fnmatch`` does."""
    assert bool(compile_pattern(pattern).fullmatch(name)) is fnmatchcase(name, pattern)


def test_split_and_wildcard_detection() -> None:
    assert split_pattern("out/data/**/*.csv") == ("out/data", "**/*.csv")
    assert split_pattern("../std*.txt") == ("..", "std*.txt")
    assert split_pattern("./*.txt") == ("", "*.txt")
    assert has_wildcard("a[1].txt") and not has_wildcard("plain/file.txt")


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    root = tmp_path / "task"
    for rel in (
        "stdout.txt",
        "stderr.txt",
        "wd/result.json",
        "wd/out/a.csv",
        "wd/out/deep/b.csv",
        "wd/out/.c.csv",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    return root


def _names(matches: list[tuple[Path, str]]) -> list[str]:
    return [blob for _file, blob in matches]


def test_single_file_goes_to_path_or_its_name(task_dir: Path) -> None:
    wd = task_dir / "wd"
    assert _names(match_output_files(wd, task_dir, "result.json", "runs/1/result.json")) == [
        "runs/1/result.json"
    ]
    assert _names(match_output_files(wd, task_dir, "result.json", None)) == ["result.json"]
    assert match_output_files(wd, task_dir, "missing.json", None) == []


def test_wildcards_keep_structure_under_prefix(task_dir: Path) -> None:
    wd = task_dir / "wd"
    assert _names(match_output_files(wd, task_dir, "out/**/*.csv", "p/")) == ["p/a.csv", "p/deep/b.csv"]
    assert _names(match_output_files(wd, task_dir, "out/*.csv", None)) == ["a.csv"]
    assert _names(match_output_files(wd, task_dir, "out/.*.csv", "x")) == ["x/.c.csv"]


def test_parent_of_wd_is_the_task_dir(task_dir: Path) -> None:
    wd = task_dir / "wd"
    assert _names(match_output_files(wd, task_dir, "../std*.txt", "logs")) == [
        "logs/stderr.txt",
        "logs/stdout.txt",
    ]


@pytest.mark.parametrize("pattern", ["../../*", "../../etc/passwd", "/etc/passwd", "", "../../**/*.txt"])
def test_patterns_cannot_leave_the_task_dir(task_dir: Path, pattern: str) -> None:
    with pytest.raises(ValueError):
        match_output_files(task_dir / "wd", task_dir, pattern, None)


def test_symlink_out_of_the_task_dir_is_skipped(task_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    (task_dir / "wd" / "leak.txt").symlink_to(secret)
    assert _names(match_output_files(task_dir / "wd", task_dir, "*.txt", None)) == []


@pytest.mark.parametrize(
    ("condition", "succeeded", "expected"),
    [
        ("tasksuccess", True, True),
        ("tasksuccess", False, False),
        ("taskfailure", True, False),
        ("taskfailure", False, True),
        ("taskcompletion", True, True),
        ("taskcompletion", False, True),
    ],
)
def test_upload_conditions(condition: str, succeeded: bool, expected: bool) -> None:
    assert should_upload(condition, succeeded) is expected
