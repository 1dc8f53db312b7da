# SPDX-License-Identifier: MIT
"""framecodec measured like the others: through its public encode and decode_frames."""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import re
from pathlib import Path

from ..probes import MemProbe, Timer, timed_iter
from ..sources import RawSink
from .base import Codec, Options, Point, pkg_version


@functools.cache
def framecodec_fingerprint() -> dict:
    """framecodec's version and a hash of its package source files, found without importing it."""
    spec = importlib.util.find_spec("framecodec")
    if spec is None or spec.origin is None:
        return {"version": None, "source_sha256": None}
    pkg = Path(spec.origin).parent
    h = hashlib.sha256()
    files = sorted(p for p in pkg.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix in {".py", ".pyx", ".pxd", ".c", ".h", ".json", ".toml"})
    for p in files:
        h.update(p.relative_to(pkg).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    m = re.search(r'^__version__\s*=\s*["\']([^"\']+)', (pkg / "__init__.py").read_text(), re.M)
    return {"version": m.group(1) if m else pkg_version("framecodec"),
            "source_sha256": h.hexdigest(), "source_files": len(files), "package": str(pkg),
            "numba": pkg_version("numba")}


class FramecodecCodec(Codec):
    key = "framecodec"
    title = "framecodec"
    kind = "bounded"
    extension = "fcv"
    preset = "default"  # the encoder preset (bench --framecodec-preset)

    def points(self, opts: Options) -> list[Point]:
        return [Point(n, n, f"max_error={n}") for n in opts.bounds]

    def settings(self, point: Point, threads: str, cpu: int) -> dict:
        n = 1 if threads == "1" else cpu
        settings = {"max_error": point.param, "jobs": 1, "threads": n}
        if self.preset != "default":
            settings["preset"] = self.preset
        return settings

    def version(self) -> str:
        fp = framecodec_fingerprint()
        return (f"framecodec {fp['version']}, source {str(fp['source_sha256'])[:16]}, "
                f"numba {fp.get('numba')}")

    def encode(self, job: dict, point: Point, mem: MemProbe) -> dict:
        import framecodec as fc
        from framecodec.encoder.settings import preset
        # the modules encode() imports on its first call (the encoder, PyAV's media
        # layer), loaded untimed as the other codecs' ``import av`` is; numba's
        # cached kernels still load inside the timing
        importlib.import_module("framecodec.encoder.pipeline")
        importlib.import_module("framecodec.io.media")

        threads = 1 if job["threads"] == "1" else job["cpu_count"]
        out = Path(job["coded"])
        enc = Timer()
        mem.start()
        with enc:
            # video only: the other codecs are given no audio either
            result = fc.encode(job["layout"]["path"], str(out),
                               settings=preset(job.get("settings", {}).get("preset", "default")),
                               max_error=point.param,
                               frames=(0, job["layout"]["frames"]), overwrite=True, jobs=1,
                               threads=threads, progress=False, audio=False)
        mem.stop()
        size = out.stat().st_size
        note = ""
        reported = getattr(result, "bytes", None)
        if reported is not None and reported != size:
            note = f"encode() reported {reported} bytes, file has {size}"
        return {"bytes": size, "encode_seconds": enc.wall, "encode_cpu_seconds": enc.cpu,
                "encode_mem": mem.result(), "encoder": self.version(), "note": note}

    def decode(self, job: dict, point: Point, mem: MemProbe, sink: RawSink) -> dict:
        import framecodec as fc

        threads = 1 if job["threads"] == "1" else job["cpu_count"]
        # Warm-up, not timed: numba loads its cached kernels on their first call in a process.
        warm = fc.decode_frames(job["coded"], threads=threads)
        for _ in zip(range(2), warm):
            pass
        warm.close()
        dec = Timer()
        mem.start()
        for frame in timed_iter(lambda: fc.decode_frames(job["coded"], threads=threads), dec):
            sink(list(frame.planes))
        mem.stop()
        return {"decode_seconds": dec.wall, "decode_cpu_seconds": dec.cpu,
                "decode_mem": mem.result(), "problems": []}


def load_framecodec() -> tuple[object | None, str]:
    """Return (module, "") or (None, reason) when the encode/decode API is unavailable."""
    try:
        fc = importlib.import_module("framecodec")
    except Exception as exc:  # noqa: BLE001 - any import failure means "n/a"
        return None, f"import framecodec failed: {type(exc).__name__}: {exc}"
    missing = [n for n in ("encode", "decode_frames") if not callable(getattr(fc, n, None))]
    if missing:
        return None, f"framecodec has no {', '.join(missing)}"
    return fc, ""
