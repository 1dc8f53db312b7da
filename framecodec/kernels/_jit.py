# SPDX-License-Identifier: MIT
"""The one place numba options are set for every kernel.

Kernels are compiled once and cached on disk (``cache=True``); they release
the GIL (``nogil=True``) so slices and groups can run on several threads.
``fastmath`` stays off: every coded bit must come from exact integer maths.

Kernels run without numba's reference counting (``kernel``: no ``_nrt``):
with it, every array a helper takes or a slice makes is counted with an
atomic increment and decrement, which numba's pruning cannot remove around
loops; in the decoder's sample loop those atomics were 38 % of the decode
time (perf on bikes, 640x272). Such a kernel cannot create an array. The few
that must allocate scratch (``allocating``) do only that and hand it to a
``kernel`` doing the work; no kernel returns an array.

``inline`` marks the small helpers called once or more per sample (a binary
decision, a neighbour, an interpolation tap). numba calls one compiled
function from another through its own calling convention (every array a
struct of fields, every call a status check) and LLVM does not inline across
them: measured, a 3-load helper cost 10-16 ns per call, inlined 1 ns.

Hot loops read arrays at indices numba can prove are not negative: it wraps
a negative index (``a[-1]`` is the last element), so any other index gets a
compare and a select, which keeps a loop scalar. A row taken as a slice,
``row = a[start:stop]``, and read as ``row[i]`` for ``i`` in a ``range``
vectorises: the motion search's SAD ran 4.4 times faster that way than
reading ``a[start + i]``. Measure before moving such a loop into an
``inline`` helper: the coarse search's cost loop ran 2-3 times slower as one.

numba checks a cached function against its own file only, so a kernel
compiled with a helper of another file (called or inlined) would keep the old
helper after that file changed: a decoder silently running last week's
arithmetic. The cache therefore lives in a directory named after a hash of
every kernel file (``cache_dir``), so any change to any kernel starts afresh.
"""

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from numba import config, njit, types

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False, "boundscheck": False}

_HERE = Path(__file__).resolve().parent


def _sources_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(_HERE.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


VECTOR_ENV = "FRAMECODEC_VECTOR_BITS"


def _vector_bits() -> int:
    """The widest integer vectors the network kernel (mlp_pairs.py) uses here: 512
    with AVX-512BW, 256 with AVX2, else 0 (portable code). ``FRAMECODEC_VECTOR_BITS``
    may lower it (256, 0): the narrower code gives the same integers, and the
    tests run it on wider machines."""
    if config.DISABLE_JIT or config.CPU_NAME not in (None, "host"):
        return 0
    try:
        from llvmlite import binding

        features = binding.get_host_cpu_features()
    except Exception:  # noqa: BLE001 - no feature map: take the portable path
        return 0
    bits = 512 if features.get("avx512bw") else 256 if features.get("avx2") else 0
    wanted = os.environ.get(VECTOR_ENV, "").strip()
    if wanted in ("0", "256", "512"):
        bits = min(bits, int(wanted))
    return bits


VECTOR_BITS = _vector_bits()


def cache_dir() -> str | None:
    """Where compiled kernels are kept: ``numba-<digest>`` under $NUMBA_CACHE_DIR
    if set, else beside the kernels, else in the user's cache; None if none
    is writable (kernels are then compiled in every process)."""
    # the vector width is compiled into the network kernel: part of the name too
    name = f"numba-{_sources_digest()}-v{VECTOR_BITS}"
    bases = [Path(config.CACHE_DIR)] if config.CACHE_DIR else [
        _HERE / "__pycache__", Path(os.path.expanduser("~")) / ".cache" / "framecodec"]
    for base in bases:
        if _writable(base / name):
            return str(base / name)
    return None


_CACHE_DIR = cache_dir()


def _jit(**extra):
    options = {**JIT_OPTIONS, **extra, "cache": _CACHE_DIR is not None}

    def decorate(function):
        # numba reads CACHE_DIR when a function is decorated: set it for ours only
        saved = config.CACHE_DIR
        config.CACHE_DIR = _CACHE_DIR or saved
        try:
            dispatcher = njit(**options)(function)
        finally:
            config.CACHE_DIR = saved
        if options.get("inline") != "always":
            _one_version_per_types(dispatcher)
        return dispatcher

    return decorate


def _one_version_per_types(dispatcher) -> None:
    """Compile a kernel called from another kernel for its arguments' types, not
    their values: numba otherwise compiles one version per literal constant a
    caller passes (``_diff_row`` twelve times, one per feature index), a third
    of a first run's compile time. No kernel needs a constant's value to type."""
    plain = getattr(dispatcher, "get_call_template", None)
    if plain is None:  # NUMBA_DISABLE_JIT: a plain Python function
        return

    def get_call_template(args, kws):
        return plain([types.unliteral(a) for a in args],
                     {k: types.unliteral(v) for k, v in kws.items()})

    dispatcher.get_call_template = get_call_template


kernel = _jit(_nrt=False)
# Float kernels (training) divide without numba's check for a zero divisor,
# whose exception path keeps a loop from vectorising; they divide only by
# values that cannot be 0, and a 0 would give inf, not wrong bytes.
float_kernel = _jit(_nrt=False, error_model="numpy")
allocating = _jit()
inline = _jit(inline="always")


# A first run compiles every kernel it uses (most of a minute); later runs load them.
NOTICE_ENV = "FRAMECODEC_COMPILE_NOTICE"


def notify_first_compile(message: str) -> None:
    """Write ``message`` to stderr when a kernel is first compiled, not loaded
    from the cache, in this process or one it starts (the environment carries
    the request to worker processes); the first of them to compile into this
    cache says it, once."""
    os.environ[NOTICE_ENV] = message
    _listen(message)


def _listen(message: str) -> None:
    from numba.core import event

    class FirstCompile(event.Listener):
        said = False

        def on_start(self, ev) -> None:
            if not self.said:
                self.said = True
                if _first_to_say():
                    sys.stderr.write(message + "\n")
                    sys.stderr.flush()

        def on_end(self, ev) -> None:
            pass

    event.register("numba:compile", FirstCompile())


def _first_to_say() -> bool:
    if _CACHE_DIR is None:
        return True
    try:
        os.close(os.open(os.path.join(_CACHE_DIR, "compiling.said"),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except OSError:
        return False


if os.environ.get(NOTICE_ENV):
    _listen(os.environ[NOTICE_ENV])
