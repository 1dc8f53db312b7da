# SPDX-License-Identifier: MIT
"""Where the benchmark lives and finds its inputs, and its log channel.

The log goes to stderr so that stdout carries only the report (the text of results.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = TOOLS_DIR.parent
BENCH_FILE = TOOLS_DIR / "bench.py"  # the children run it with --child
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
DEFAULT_CACHE = REPO_ROOT / ".bench-cache"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
