# SPDX-License-Identifier: MIT
"""The measured rows and what is summed or compared across them (totals, equal PSNR, speed).

Everything here is data; tables.py turns it into markdown and the JSON report keeps it whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from .codecs import LADDER_CODECS
from .metrics import bits_per_sample, geometric_mean, rd_frontier, size_at_psnr

VIDEO_REFS = (("ffv1", "FFV1"), ("x264", "x264"))
IMAGE_REFS = (("png", "PNG"), ("jxl", "JXL"))


@dataclass
class Row:
    """One codec at one operating point on one clip."""

    clip: str
    codec: str
    max_error: int | None  # the promised bound: 0 lossless, N bounded, None (ladders) no bound
    frames: int
    samples: int
    status: str = "ok"  # "ok", "n/a" (codec unavailable) or "error"
    bytes: int | None = None
    encode_seconds: float | None = None
    decode_seconds: float | None = None
    encode_cpu_seconds: float | None = None
    decode_cpu_seconds: float | None = None
    ok: bool | None = None  # bit-exact (max_error 0), within the bound, or decoded whole
    measured_max_error: int | None = None
    psnr_db: list[float | None] | None = None  # per plane, None = identical
    encoder: str = ""  # encoder identification found in the output, if any
    note: str = ""
    param: int | None = None  # NEAR, max_error, CRF or quality
    setting: str = ""  # "lossless", "NEAR=2", "max_error=1", "crf=12", "q=95"
    kind: str = ""  # the codec's kind: lossless, bounded, ladder
    psnr_yuv_db: float | None = None  # None = identical (or not measured)
    psnr_yuv_db_weighted: float | None = None
    exact: bool | None = None
    ssim: list[float] | None = None
    ssim_yuv: float | None = None
    frame_max_errors: list[int] | None = None
    encode_mem: dict | None = None  # {base_mb, peak_mb, delta_mb, peak_reset}
    decode_mem: dict | None = None
    settings: dict | None = None
    version: str = ""
    cached: bool = False
    measured_at: str = ""
    threads_all: dict | None = None  # the --threads-all measurement

    @property
    def measured(self) -> bool:
        return self.status == "ok" and self.bytes is not None

    @property
    def lossy(self) -> bool:
        return self.measured and not self.exact and self.psnr_yuv_db is not None

    @property
    def bits_per_sample(self) -> float | None:
        return bits_per_sample(self.bytes, self.samples) if self.measured else None

    @property
    def encode_fps(self) -> float | None:
        return fps(self.frames, self.encode_seconds)

    @property
    def decode_fps(self) -> float | None:
        return fps(self.frames, self.decode_seconds)

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(
            bits_per_sample=self.bits_per_sample,
            encode_fps=self.encode_fps,
            decode_fps=self.decode_fps,
        )
        return d


def fps(frames: int, seconds: float | None) -> float | None:
    return frames / seconds if seconds else None


def ratio(a: int | None, b: int | float | None) -> float | None:
    return a / b if a is not None and b else None


def bounded_rows(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if r.max_error is not None]


def rows_by_key(rows: Iterable[Row]) -> dict[tuple[str, str, int], Row]:
    return {(r.clip, r.codec, r.max_error): r for r in bounded_rows(rows) if r.measured}


@dataclass
class Total:
    codec: str
    max_error: int
    clips: int
    frames: int
    samples: int
    bytes: int
    encode_seconds: float
    decode_seconds: float
    ok: bool
    ratio_ffv1: float | None
    ratio_x264: float | None
    ratio_jpegls: float | None
    note: str = ""
    ratios: dict[str, float | None] = field(default_factory=dict)

    @property
    def bits_per_sample(self) -> float:
        return bits_per_sample(self.bytes, self.samples)

    @property
    def encode_fps(self) -> float | None:
        return fps(self.frames, self.encode_seconds)

    @property
    def decode_fps(self) -> float | None:
        return fps(self.frames, self.decode_seconds)

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(bits_per_sample=self.bits_per_sample, encode_fps=self.encode_fps,
                 decode_fps=self.decode_fps)
        return d


def totals(rows: Sequence[Row], clip_names: Sequence[str],
           refs: Sequence[tuple[str, str]] = VIDEO_REFS) -> list[Total]:
    """Sum over clips per (codec, max_error); ratios of totals over the clips both have."""
    idx = rows_by_key(rows)
    keys = list(dict.fromkeys((r.codec, r.max_error) for r in bounded_rows(rows) if r.measured))
    result = []
    for codec, n in keys:
        mine = [idx[(c, codec, n)] for c in clip_names if (c, codec, n) in idx]

        def ratio_of_totals(ref_codec: str, ref_n: int) -> float | None:
            pairs = [(r.bytes, idx[(r.clip, ref_codec, ref_n)].bytes)
                     for r in mine if (r.clip, ref_codec, ref_n) in idx]
            if not pairs:
                return None
            return sum(a for a, _ in pairs) / sum(b for _, b in pairs)

        note = "" if len(mine) == len(clip_names) else f"{len(mine)}/{len(clip_names)} clips"
        result.append(Total(
            codec, n, len(mine),
            frames=sum(r.frames for r in mine),
            samples=sum(r.samples for r in mine),
            bytes=sum(r.bytes for r in mine),
            encode_seconds=sum(r.encode_seconds for r in mine),
            decode_seconds=sum(r.decode_seconds for r in mine),
            ok=all(r.ok for r in mine),
            ratio_ffv1=ratio_of_totals("ffv1", 0),
            ratio_x264=ratio_of_totals("x264", 0),
            ratio_jpegls=ratio_of_totals("jpegls", n),
            note=note,
            ratios={k: ratio_of_totals(k, 0) for k, _ in refs},
        ))
    return result


def ladder_points(rows: Iterable[Row], clip: str, codec: str) -> list[tuple[float, float]]:
    return [(r.psnr_yuv_db, r.bytes) for r in rows
            if r.clip == clip and r.codec == codec and r.lossy]


def equal_psnr(rows: Sequence[Row], row: Row, ladder: str) -> dict:
    """``row``'s size against ``ladder``'s size interpolated at ``row``'s PSNR-YUV."""
    pts = ladder_points(rows, row.clip, ladder)
    out = {"ladder": ladder, "target_psnr_db": row.psnr_yuv_db, "ladder_bytes": None,
           "ratio": None, "reason": ""}
    if not row.lossy:
        out["reason"] = "lossless point" if row.measured else "not measured"
        return out
    if not pts:
        out["reason"] = "no ladder points"
        return out
    size = size_at_psnr(pts, row.psnr_yuv_db)
    if size is None:
        f = rd_frontier(pts)
        out["reason"] = (f"target {row.psnr_yuv_db:.2f} dB outside the ladder's "
                         f"{f[0][0]:.2f}–{f[-1][0]:.2f} dB")
        return out
    out["ladder_bytes"] = size
    out["ratio"] = row.bytes / size
    return out


def ladders_in(rows: Sequence[Row]) -> list[str]:
    return [k for k in LADDER_CODECS if any(r.codec == k and r.lossy for r in rows)]


def equal_psnr_summary(rows: Sequence[Row], clip_names: Sequence[str]) -> list[dict]:
    """Per bounded lossy point: geometric mean over clips of size ÷ ladder size at equal PSNR."""
    ladders = ladders_in(rows)
    keys = list(dict.fromkeys((r.codec, r.max_error, r.setting) for r in rows
                              if r.lossy and r.max_error))
    result = []
    for codec, n, setting in keys:
        mine = [r for r in rows if (r.codec, r.max_error) == (codec, n) and r.lossy]
        entry = {"codec": codec, "max_error": n, "setting": setting, "clips": len(mine),
                 "bits_per_sample": bits_per_sample(sum(r.bytes for r in mine),
                                                    sum(r.samples for r in mine)),
                 "mean_psnr_yuv_db": sum(r.psnr_yuv_db for r in mine) / len(mine),
                 "ladders": {}}
        for k in ladders:
            per_clip = [{"clip": r.clip, **equal_psnr(rows, r, k)} for r in mine]
            ratios = [e["ratio"] for e in per_clip if e["ratio"] is not None]
            entry["ladders"][k] = {"geomean_ratio": geometric_mean(ratios),
                                   "clips": len(ratios), "per_clip": per_clip}
        result.append(entry)
    return result


def delta_mb(m: dict | None) -> float | None:
    return m.get("delta_mb") if m else None


def speed_summary(rows: Sequence[Row]) -> list[dict]:
    """Per codec point over all clips: fps = frames / seconds; memory = the largest clip's."""
    keys = list(dict.fromkeys((r.codec, r.setting) for r in rows if r.measured))
    result = []
    for codec, setting in keys:
        mine = [r for r in rows if (r.codec, r.setting) == (codec, setting) and r.measured]
        frames = sum(r.frames for r in mine)
        mt = [r.threads_all for r in mine if r.threads_all and "error" not in r.threads_all]

        def mx(values):
            values = [v for v in values if v is not None]
            return max(values) if values else None

        entry = {
            "codec": codec, "setting": setting, "clips": len(mine), "frames": frames,
            "encode_fps": fps(frames, sum(r.encode_seconds for r in mine)),
            "decode_fps": fps(frames, sum(r.decode_seconds for r in mine)),
            "encode_mem_mb": mx(delta_mb(r.encode_mem) for r in mine),
            "decode_mem_mb": mx(delta_mb(r.decode_mem) for r in mine),
            "threads_all": None,
        }
        if mt and len(mt) == len(mine):
            entry["threads_all"] = {
                "threads": mt[0]["threads"],
                "encode_fps": fps(frames, sum(m["encode_seconds"] for m in mt)),
                "decode_fps": fps(frames, sum(m["decode_seconds"] for m in mt)),
                "encode_mem_mb": mx(delta_mb(m.get("encode_mem")) for m in mt),
                "decode_mem_mb": mx(delta_mb(m.get("decode_mem")) for m in mt),
            }
        result.append(entry)
    return result
