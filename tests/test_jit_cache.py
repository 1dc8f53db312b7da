# SPDX-License-Identifier: MIT
"""Compiled kernels are cached under a name that changes with any kernel file,
so a kernel never runs with a stale copy of a helper from another file."""

import shutil

from framecodec.kernels import _jit


def test_cache_name_follows_every_kernel_file(tmp_path, monkeypatch):
    copy = tmp_path / "kernels"
    shutil.copytree(_jit._HERE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(_jit, "_HERE", copy)
    before = _jit._sources_digest()
    helper = copy / "rangecoder.py"
    helper.write_text(helper.read_text() + "\n# a change to a helper only\n")
    assert _jit._sources_digest() != before


def test_kernels_cache_in_the_named_directory():
    """Named after the sources and the vector width compiled into the network kernel."""
    if _jit._CACHE_DIR is not None:
        assert _jit._CACHE_DIR.endswith(f"numba-{_jit._sources_digest()}-v{_jit.VECTOR_BITS}")


def test_first_compile_is_announced_once_per_cache(tmp_path):
    """A first run compiles for most of a minute: the command line says so (on a
    terminal), once per cache whatever the processes; loading from the cache is silent."""
    import os
    import subprocess
    import sys

    script = tmp_path / "first.py"
    script.write_text(
        "import sys\n"
        "from framecodec.kernels._jit import kernel, notify_first_compile\n"
        "notify_first_compile('compiling now')\n"
        "@kernel\n"
        "def plus(x, y):\n"
        "    return x + y\n"
        "print(plus(1, int(sys.argv[1])))\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    env.pop(_jit.NOTICE_ENV, None)

    def run(arg):
        done = subprocess.run([sys.executable, str(script), arg], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert run("1").count("compiling now") == 1  # compiled: said
    said = list((tmp_path / "cache").rglob("compiling.said"))
    assert len(said) == 1
    said[0].unlink()
    assert "compiling now" not in run("2")  # loaded from the cache: nothing to say
    script.write_text(script.read_text().replace("x + y", "y + x"))
    run("3")  # compiled again, and said again (the mark was removed)
    assert "compiling now" not in run("4")  # loaded
    script.write_text(script.read_text().replace("y + x", "x + y"))
    assert "compiling now" not in run("5")  # compiled, but this cache has said it
