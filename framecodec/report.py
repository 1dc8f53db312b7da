# SPDX-License-Identifier: MIT
"""Looking into .fcv files: ``describe`` (framecodec info) and ``verify``.

Neither imports torch or the encoder; both read groups through the decoder's
own loop (coding/decoder.py), and ``verify``, given the source, measures the
error per plane and per group (metrics.py).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from .coding.decoder import iter_group, read_group_header
from .errors import FramecodecError
from .format.container import FcvReader
from .format.group import REASONS
from .metrics import PlaneStats

__all__ = ["describe", "verify", "VerifyReport"]


def _fraction_text(value) -> str:
    return str(value.numerator) if value.denominator == 1 else \
        f"{value.numerator}/{value.denominator}"


def describe(path: str | os.PathLike) -> dict:
    """Stream and per-group facts, as plain data (``info --json``)."""
    with FcvReader(path) as reader:
        info = reader.info
        groups = []
        ends = [g.offset for g in reader.groups[1:]] + [None]
        for g, (entry, end) in enumerate(zip(reader.groups, ends)):
            header, _ = read_group_header(reader, g)
            size = (end if end is not None else _end_of_groups(reader)) - entry.offset
            groups.append({
                "index": g, "first_frame": entry.first_frame, "frames": entry.frame_count,
                "bytes": size, "model_bytes": len(header.model.to_bytes()),
                "dictionary_entries": len(header.dictionary),
                "palettes": [{"planes": list(p.planes), "colours": len(p)}
                             for p in header.dictionary.palettes],
                "max_error": header.max_error,
                "slices": header.slices, "block": 1 << header.log2_block,
                "references": header.refs,
                "started": REASONS.get(header.reason, f"reason {header.reason}"),
            })
        total = os.path.getsize(path)
        samples = info.samples_per_frame * reader.frame_count
        c = info.color
        return {
            "stream": {
                "width": info.width, "height": info.height, "pix_fmt": info.pix_fmt,
                "bit_depth": info.format.bit_depth, "frames": reader.frame_count,
                "frame_rate": _fraction_text(info.frame_rate),
                "time_base": _fraction_text(info.time_base),
                "max_error": reader.header.max_error,
                "version": "%d.%d" % reader.header.version,
                "color_range": c.color_range, "color_matrix": c.matrix,
                "color_primaries": c.primaries, "color_transfer": c.transfer,
                "sample_aspect": _fraction_text(info.sample_aspect),
                "rotation": info.rotation,
            },
            "bytes": total,
            "bits_per_sample": 8 * total / max(samples, 1),
            "index_rebuilt": reader.damaged_index,
            "groups": groups,
        }


def _end_of_groups(reader: FcvReader) -> int:
    for chunk in reader.iter_chunks():
        if chunk.tag == b"INDX":
            return chunk.offset
    return reader.size


def _db(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}"


@dataclass
class VerifyReport:
    path: str
    frames: int = 0
    expected_frames: int = 0
    problems: list[str] = field(default_factory=list)
    max_error: list[int] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    group_psnr: list[float] = field(default_factory=list)
    bound: int = 0

    @property
    def sound(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [f"{self.path}: {self.frames}/{self.expected_frames} frames decoded"]
        if self.max_error:
            psnr = ", ".join(_db(v) for v in self.psnr)
            out.append(f"max error per plane {self.max_error} (bound {self.bound}); "
                       f"PSNR per plane {psnr} dB")
            out.append("PSNR per group (all samples): "
                       + ", ".join(_db(v) for v in self.group_psnr) + " dB")
        out += [f"problem: {p}" for p in self.problems]
        out.append("sound" if self.sound else "NOT sound")
        return out


def verify(path: str | os.PathLike, source: str | os.PathLike | None = None, *,
           threads: int = 1) -> VerifyReport:
    """Check every chunk's CRC and decode every frame; compare to ``source`` if given."""
    report = VerifyReport(str(path))
    try:
        reader = FcvReader(path)
    except FramecodecError as exc:
        report.problems.append(str(exc))
        return report
    with reader:
        info = reader.info
        peak = info.format.max_value
        report.expected_frames = info.frame_count or reader.frame_count
        report.bound = reader.header.max_error
        if reader.damaged_index:
            report.problems.append("index missing or damaged (file truncated?)")
        try:
            for _ in reader.iter_chunks():
                pass
        except FramecodecError as exc:
            report.problems.append(str(exc))
        src_frames = _source_frames(source) if source is not None else None
        total = PlaneStats()
        for g in range(len(reader.groups)):
            group = PlaneStats()
            try:
                for index, frame in iter_group(reader, g, threads):
                    report.frames += 1
                    if src_frames is None:
                        continue
                    original = next(src_frames, None)
                    if original is None:
                        report.problems.append(f"source has fewer frames than frame {index}")
                        src_frames = None
                        continue
                    group.add(original, frame)
            except FramecodecError as exc:
                report.problems.append(str(exc))
            if src_frames is not None and group.count:
                report.group_psnr.append(group.psnr(peak))
            total.merge(group)
        if report.frames != report.expected_frames:
            report.problems.append(f"decoded {report.frames} frames, header says "
                                   f"{report.expected_frames}")
        if source is not None:
            report.max_error = total.max_error or [0] * info.format.planes
            report.psnr = total.plane_psnr(peak) if total.count else \
                [math.inf] * info.format.planes
            if total.worst > report.bound:
                report.problems.append(f"error {total.worst} exceeds the file's "
                                       f"bound {report.bound}")
    return report


def _source_frames(source):
    from .io import media

    src = media.open_source(source)

    def frames():
        with src:
            yield from src.frames()

    return frames()
