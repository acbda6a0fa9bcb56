"""Count the lines and words of one chunk: the program each task of the ``count_words`` DAG runs.

Usage: python3 word_count.py INPUT OUTPUT
Writes one JSON document: {"lines": n, "words": n, "longest": word}. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys


def main(source: str, target: str) -> None:
    lines = words = 0
    longest = ""
    with open(source, encoding="utf-8") as handle:
        for line in handle:
            lines += 1
            for word in line.split():
                words += 1
                if len(word) > len(longest):
                    longest = word
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "w", encoding="utf-8") as out:
        json.dump({"lines": lines, "words": words, "longest": longest}, out)
    print(f"{source}: {lines} lines, {words} words -> {target}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
