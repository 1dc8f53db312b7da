# SPDX-License-Identifier: MIT
"""The measurement cache: a re-run measures only what changed.

An entry is found by the SHA-256 of everything its numbers depend on (clip, frames, codec,
point, settings, versions, MEASURE_VERSION); see runner.measure for the key material.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

# Bump when what a cached measurement means changes (timing scope, metrics, file layout).
MEASURE_VERSION = 4


def file_sha256(path: Path) -> str:
    return _file_sha256(str(path), path.stat().st_size, path.stat().st_mtime_ns)


@functools.cache
def _file_sha256(path: str, size: int, mtime: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Cache:
    """One JSON file per measurement, named by the SHA-256 of its key material."""

    def __init__(self, root: Path | None, read: bool = True) -> None:
        self.root = root
        self.read = read
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(material: dict) -> str:
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, material: dict, need_memory: bool) -> dict | None:
        if self.root is None or not self.read:
            return None
        path = self._path(self.key(material))
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        m = entry.get("measurement")
        if not m or entry.get("material") != material:
            return None
        if need_memory and (m.get("encode_mem") is None or m.get("decode_mem") is None):
            return None  # cached from an --in-process run: measure again for the memory
        self.hits += 1
        return m

    def put(self, material: dict, measurement: dict) -> None:
        if self.root is None:
            return
        if not self.root.exists():
            self.root.mkdir(parents=True)
            (self.root / ".gitignore").write_text("*\n")  # keep the cache out of git
        path = self._path(self.key(material))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"material": material, "measurement": measurement},
                                  indent=1) + "\n")
        tmp.replace(path)
