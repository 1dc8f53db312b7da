# SPDX-License-Identifier: MIT
"""Golden vectors: committed .fcv files that pin the bitstream.

Each vector is a fixed small input (committed under ``inputs/``) and encoder
settings. Two facts about it are committed in ``vectors.json``:

* ``fcv_sha256``: the SHA-256 of the bytes the encoder writes for it. A change
  here means the *encoder* writes something else: the bitstream changed, or an
  encoder decision did.
* ``decoded_sha256``: the SHA-256 of the planes the committed ``.fcv`` decodes
  to (every frame's planes in order, native dtype, little endian). A change
  here means the *decoder* reads the same bytes differently.

Encoder and decoder share most of their code, so a round-trip test cannot see
the format move; these two hashes can. When the bitstream changes on purpose,
regenerate with

    .venv/bin/python tests/golden/vectors.py --regenerate

and say why in docs/FORMAT.md's changelog. ``--inputs`` also rewrites the
inputs (only needed when a vector is added).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
INPUTS = HERE / "inputs"
MANIFEST = HERE / "vectors.json"
SAMPLE = ROOT / "samples" / "carphone_176x144_30f.mkv"

# Small networks, short training: vectors pin the format, not compression.
FAST = {"hidden": [8, 8], "train_steps": 40, "train_samples": 6000}

# name -> (input file, encoder settings)
VECTORS: dict[str, tuple[str, dict]] = {
    "yuv420p-lossless": ("carphone-64x48-yuv420p.mkv", {"max_error": 0, "order": "display"}),
    "yuv420p-bound2": ("carphone-64x48-yuv420p.mkv", {"max_error": 2, "order": "display"}),
    "yuv444p-lossless": ("pattern-40x24-yuv444p.mkv", {"max_error": 0}),
    "gbrp-lossless": ("pattern-32x24-gbrp.mkv", {"max_error": 0}),
    "gray-bound1": ("pattern-33x17-gray.mkv", {"max_error": 1}),
    "yuv420p10le-lossless": ("pattern-40x24-yuv420p10le.mkv", {"max_error": 0}),
    "gbrp-palette": ("colours-48x32-gbrp.mkv", {"max_error": 0, "palette": "on"}),
    "multigroup-audio": ("pattern-48x32-yuv420p-audio.mkv",
                         {"max_error": 0, "group_size": 2, "min_group": 1}),
    # 243 colours: over 128, so escapes go through the recency list (format 2.2)
    "gbrp-gif-recency": ("cvjoint-64x48-gbrp.mkv", {"max_error": 0, "palette": "on"}),
    # red and blue coded as differences from green (format 2.4)
    "gbrp-differences": ("chelsea-64x48-gbrp.mkv", {"max_error": 0, "differences": "on"}),
    # zero flags and signs mixed with the network's probabilities (format 2.7)
    "yuv420p-mixing": ("carphone-64x48-yuv420p.mkv", {"max_error": 0, "mixing": True}),
    "yuv420p-bound2-mixing": ("carphone-64x48-yuv420p.mkv", {"max_error": 2, "mixing": True}),
    # groups of one frame, each coded at both sample-model rates (format 2.8)
    "gbrp-single-frames": ("chelsea-64x48-gbrp.mkv",
                           {"max_error": 0, "group_size": 1, "min_group": 1}),
    "gbrp-colours-single-frames": ("colours-48x32-gbrp.mkv",
                                   {"max_error": 0, "group_size": 1, "min_group": 1,
                                    "palette": "off"}),
    # frames coded 0, 2, 1: the last predicted from both sides, blocks averaging two
    # references (format 2.9)
    "yuv420p-two-sided": ("carphone-64x48-yuv420p.mkv", {"max_error": 0, "order": "two-sided"}),
    "yuv420p-bound2-two-sided": ("carphone-64x48-yuv420p.mkv",
                                 {"max_error": 2, "order": "two-sided"}),
    "gbrp-palette-two-sided": ("colours-48x32-gbrp.mkv",
                               {"max_error": 0, "palette": "on", "order": "two-sided"}),
    # predicting from samples pulled by the bound towards their predictions (format 2.10)
    "yuv420p-bound2-pull": ("carphone-64x48-yuv420p.mkv",
                            {"max_error": 2, "order": "display", "pull": "on"}),
}


# ------------------------------------------------------------------ inputs


def _pattern(width: int, height: int, t: int, peak: int, phase: int) -> np.ndarray:
    """Deterministic textured content moving by (3, 2) samples a frame, integers only."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    x, y = x + 3 * t + phase, y + 2 * t + 5 * phase
    v = (x * 37 + y * 11 + ((x * y) >> 3) * 5 + ((x ^ y) & 15) * 9) % (peak + 1)
    smooth = (x * 5 + y * 3) % (peak + 1)
    return ((v + 3 * smooth) // 4).astype(np.int64)


def _frames(pix_fmt: str, width: int, height: int, count: int):
    from framecodec.frames import Frame
    from framecodec.pixfmt import by_name

    fmt = by_name(pix_fmt)
    frames = []
    for t in range(count):
        planes = [_pattern(w, h, t, fmt.max_value, p).astype(fmt.dtype)
                  for p, (h, w) in enumerate(fmt.plane_shapes(width, height))]
        frames.append(Frame(planes, t))
    return frames


def _colours(width: int, height: int, count: int):
    """Few-colour RGB (5 colours): rectangles and a moving bar, for the palette vector."""
    from framecodec.frames import Frame

    palette = np.array([[30, 200, 90], [250, 250, 250], [0, 0, 0], [120, 40, 200],
                        [255, 128, 0]], np.uint8)
    frames = []
    for t in range(count):
        y, x = np.mgrid[0:height, 0:width]
        index = ((x // 8) + (y // 6)) % 3
        index[(x >= 4 + 3 * t) & (x < 12 + 3 * t)] = 3
        index[(y >= 20) & (y < 24) & (x > 30)] = 4
        rgb = palette[index]
        frames.append(Frame([rgb[..., 1].copy(), rgb[..., 2].copy(), rgb[..., 0].copy()], t))
    return frames


def _write(path: Path, pix_fmt: str, width: int, height: int, frames) -> None:
    from framecodec.io import media
    from framecodec.frames import VideoInfo

    info = VideoInfo(width, height, pix_fmt, Fraction(25), Fraction(1, 25))
    with media.open_writer(path, info) as writer:
        for frame in frames:
            writer.write(frame)


def _carphone_crop(path: Path) -> None:
    from framecodec.io import media
    from framecodec.frames import Frame, VideoInfo

    with media.open_source(SAMPLE) as source:
        frames = list(source.frames(0, 3))
    crop = [Frame([frames[t].planes[0][40:88, 56:120], frames[t].planes[1][20:44, 28:60],
                   frames[t].planes[2][20:44, 28:60]], t) for t in range(3)]
    _write(path, "yuv420p", 64, 48, crop)
    del VideoInfo


def _cvjoint_crop(path: Path) -> None:
    """64x48 of the GIF sample's first 3 frames (samples/README.md): dithered, 243 colours."""
    from framecodec.io import media
    from framecodec.frames import Frame

    with media.open_source(ROOT / "samples" / "rgb_cvjoint_320x240.mkv") as source:
        frames = list(source.frames(0, 3))
    crop = [Frame([p[120:168, 160:224] for p in frames[t].planes], t) for t in range(3)]
    _write(path, "gbrp", 64, 48, crop)


def _chelsea_crops(path: Path) -> None:
    """Three 64x48 crops of a photograph (samples/README.md), moving by (2, 1) a frame."""
    from framecodec.io import media
    from framecodec.frames import Frame

    with media.open_source(ROOT / "samples" / "stills" / "chelsea.png") as source:
        photo = next(iter(source.frames(0, 1)))
    crops = [Frame([p[100 + t:148 + t, 200 + 2 * t:264 + 2 * t].copy() for p in photo.planes], t)
             for t in range(3)]
    _write(path, "gbrp", 64, 48, crops)


def _with_audio(path: Path) -> None:
    """FFV1 video (6 frames) and 16-bit PCM audio, muxed with PyAV."""
    import av

    frames = _frames("yuv420p", 48, 32, 6)
    with av.open(str(path), "w", format="matroska",
                 options={"fflags": "+bitexact"}) as out:
        video = out.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 48, 32, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        for t, frame in enumerate(frames):
            vf = av.VideoFrame(48, 32, "yuv420p")
            for dst, src in zip(vf.planes, frame.planes):
                row = dst.line_size
                buf = np.frombuffer(dst, np.uint8).reshape(dst.height, row)
                buf[:, : src.shape[1]] = src
            vf.pts = t
            out.mux(video.encode(vf))
            samples = (np.arange(320, dtype=np.int64) + 320 * t) * 440 * 2 * 314159 // 8000
            tone = ((samples % 200000) - 100000) // 8
            af = av.AudioFrame.from_ndarray(tone.astype(np.int16)[None, :], format="s16",
                                            layout="mono")
            af.sample_rate = 8000
            af.pts = 320 * t
            out.mux(audio.encode(af))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))


def make_inputs() -> None:
    INPUTS.mkdir(exist_ok=True)
    _carphone_crop(INPUTS / "carphone-64x48-yuv420p.mkv")
    for name, (fmt, w, h, n) in {
        "pattern-40x24-yuv444p.mkv": ("yuv444p", 40, 24, 3),
        "pattern-32x24-gbrp.mkv": ("gbrp", 32, 24, 3),
        "pattern-33x17-gray.mkv": ("gray", 33, 17, 3),
        "pattern-40x24-yuv420p10le.mkv": ("yuv420p10le", 40, 24, 3),
    }.items():
        _write(INPUTS / name, fmt, w, h, _frames(fmt, w, h, n))
    _write(INPUTS / "colours-48x32-gbrp.mkv", "gbrp", 48, 32, _colours(48, 32, 3))
    _with_audio(INPUTS / "pattern-48x32-yuv420p-audio.mkv")
    _cvjoint_crop(INPUTS / "cvjoint-64x48-gbrp.mkv")
    _chelsea_crops(INPUTS / "chelsea-64x48-gbrp.mkv")


# ------------------------------------------------------------------ coding


def settings_for(name: str):
    """The encoder settings of a vector (a framecodec settings object)."""
    from framecodec.encoder.settings import from_mapping

    _, changes = VECTORS[name]
    return from_mapping({**FAST, **changes})


def encode(name: str, out: Path) -> bytes:
    """Encode a vector's input with its settings, one thread; the file's bytes."""
    import framecodec

    source, _ = VECTORS[name]
    framecodec.encode(INPUTS / source, out, settings=settings_for(name), jobs=1, threads=1,
                      overwrite=True, progress=False)
    return out.read_bytes()


def decoded_sha256(path: Path) -> str:
    """SHA-256 of every decoded frame's planes, in order (native dtype, little endian)."""
    import framecodec

    h = hashlib.sha256()
    for frame in framecodec.decode_frames(path):
        for plane in frame.planes:
            h.update(np.ascontiguousarray(plane, plane.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def regenerate() -> dict:
    manifest = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in VECTORS:
            out = Path(scratch) / f"{name}.fcv"
            data = encode(name, out)
            shutil.copyfile(out, HERE / f"{name}.fcv")
            manifest[name] = {"input": VECTORS[name][0], "settings": {**FAST, **VECTORS[name][1]},
                              "bytes": len(data), "fcv_sha256": sha256(data),
                              "decoded_sha256": decoded_sha256(HERE / f"{name}.fcv")}
            print(f"{name}: {len(data)} bytes")
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--regenerate", action="store_true", help="rewrite the .fcv files and hashes")
    p.add_argument("--inputs", action="store_true", help="also rewrite the inputs")
    args = p.parse_args(argv)
    if not (args.regenerate or args.inputs):
        p.error("nothing to do: pass --regenerate (and --inputs to remake the inputs)")
    if args.inputs:
        make_inputs()
    regenerate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
