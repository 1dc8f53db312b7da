# SPDX-License-Identifier: MIT
"""The house's rules, checked where CI checks everything: in the test suite.

* the import direction of pyproject.toml's ``[tool.importlinter]`` contracts
  (``lint-imports``: commands -> encoder -> decoder machine -> format ->
  kernels; torch only in the encoder, PyAV only in io);
* the kernels' tests pass again as plain Python (``NUMBA_DISABLE_JIT=1``), so
  every wraparound is an explicit mask, not an accident of fixed-width types;
* module sizes stay readable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is missing: pip install -e '.[test]'"
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_kernel_tests_pass_without_the_jit():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_kernels.py", "tests/test_context.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_modules_stay_readable():
    big = [f"{p.relative_to(ROOT)}: {n} lines"
           for limit, folder in ((600, "framecodec"), (900, "tools"))
           for p in (ROOT / folder).rglob("*.py")
           if (n := len(p.read_text().splitlines())) > limit]
    assert not big, big
