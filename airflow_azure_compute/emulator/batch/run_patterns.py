"""``outputFiles[].filePattern`` matching and blob naming, as the Batch agent does it.

A pattern is relative to the working directory (``wd``) and may climb into the task directory
(``../std*.txt`` uploads the task's own logs) but never above it. Wildcards: ``*`` and ``?`` within one
path segment, ``[abc]`` / ``[!abc]`` classes, and ``**`` as a whole segment for any number of
directories. A wildcard never matches a leading ``.`` (dotfiles match only when named). ``\\`` is read
as a path separator, as in the Windows-style examples of the Batch docs (``**\\*.txt``).

Blob names: a pattern without wildcards names one file, uploaded to ``path`` (or its file name when
``path`` is empty); with wildcards, each match keeps its path relative to the pattern's literal leading
directories, under the ``path`` prefix.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_WILDCARDS = frozenset("*?[")
_ANY_DIRS = r"(?:(?!\.)[^/]+/)*"
_ANY_NAME = r"(?!\.)[^/]+"


def has_wildcard(pattern: str) -> bool:
    """Whether ``pattern`` holds ``*``, ``?`` or ``[``."""
    return any(ch in _WILDCARDS for ch in pattern)


def _segments(pattern: str) -> list[str]:
    return [seg for seg in pattern.replace("\\", "/").split("/") if seg not in ("", ".")]


def _class(segment: str, start: int) -> tuple[str, int] | None:
    """Translate the ``[...]`` class opening at ``start``; ``None`` when it never closes."""
    end = start + 1
    if end < len(segment) and segment[end] in "!^":
        end += 1
    if end < len(segment) and segment[end] == "]":
        end += 1
    while end < len(segment) and segment[end] != "]":
        end += 1
    if end >= len(segment):
        return None
    body = re.sub(r"([\\\[&~|])", r"\\\1", segment[start + 1 : end])  # no nested sets or set operations
    if body[:1] in ("!", "^"):
        body = "^/" + body[1:]
    return f"[{body}]", end + 1


def segment_regex(segment: str) -> str:
    """Regex source for one pattern segment (not ``**``)."""
    out = [] if segment.startswith(".") else [r"(?!\.)"]
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            while i < len(segment) and segment[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if ch == "?":
            out.append("[^/]")
        elif ch == "[" and (translated := _class(segment, i)) is not None:
            out.append(translated[0])
            i = translated[1]
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regex matching '/'-separated relative file paths against a wildcard ``pattern``."""
    segments = _segments(pattern)
    parts = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(_ANY_DIRS + (_ANY_NAME if last else ""))
        else:
            parts.append(segment_regex(segment) + ("" if last else "/"))
    return re.compile("".join(parts), re.DOTALL)


def split_pattern(pattern: str) -> tuple[str, str]:
    """``(literal leading directories, wildcard remainder)`` of a pattern with wildcards."""
    segments = _segments(pattern)
    for index, segment in enumerate(segments):
        if has_wildcard(segment):
            return "/".join(segments[:index]), "/".join(segments[index:])
    return "/".join(segments[:-1]), "/".join(segments[-1:])


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _blob_name(prefix: str, relative: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{relative}" if prefix else relative


def match_output_files(wd: Path, task_dir: Path, pattern: str, path: str | None) -> list[tuple[Path, str]]:
    """``(local file, blob name)`` pairs for one output file spec, sorted by blob name.

    Raises ``ValueError`` for an absolute pattern or one that leaves the task directory.
    """
    normalized = pattern.replace("\\", "/")
    if not normalized.strip() or normalized.startswith("/"):
        raise ValueError(
            f"filePattern {pattern!r} must be a non-empty path relative to the working directory"
        )
    root = task_dir.resolve()
    if not has_wildcard(normalized):
        target = (wd / normalized).resolve()
        if not _inside(target, root):
            raise ValueError(f"filePattern {pattern!r} leaves the task directory")
        return [(target, path.strip("/") if path else target.name)] if target.is_file() else []
    base, rest = split_pattern(normalized)
    base_dir = (wd / base).resolve()
    if not _inside(base_dir, root):
        raise ValueError(f"filePattern {pattern!r} leaves the task directory")
    regex = compile_pattern(rest)
    matches: list[tuple[Path, str]] = []
    for folder, _dirs, files in os.walk(base_dir):
        for name in files:
            file = Path(folder) / name
            relative = file.relative_to(base_dir).as_posix()
            if regex.fullmatch(relative) and _inside(file.resolve(), root):
                matches.append((file, _blob_name(path or "", relative)))
    return sorted(matches, key=lambda match: match[1])
