# SPDX-License-Identifier: MIT
"""Looking into .fcv files: ``describe`` (info), ``verify`` and ``framemd5``.

None imports the encoder; they read groups through the decoder's
own loop (coding/decoder.py). ``verify`` checks every decoded frame against
its stored MD5 and, given the source, measures the error per plane and per
group (metrics.py); ``framemd5`` lists the stored MD5s as ``ffmpeg -f
framemd5`` prints them, so the two diff clean for a lossless file.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction

from .coding import budget
from .coding.decoder import check_frame, iter_group, read_group_header
from .errors import FramecodecError, LimitError
from .format import fixity
from .format.container import FcvReader
from .format.group import REASONS
from .format.layout import Layout
from .metrics import PlaneStats

__all__ = ["describe", "verify", "VerifyReport", "framemd5", "fixity_text"]

_SHOWN_PROBLEMS = 20


def _fraction_text(value) -> str:
    return str(value.numerator) if value.denominator == 1 else \
        f"{value.numerator}/{value.denominator}"


def fixity_text(reader: FcvReader) -> str:
    """What the file's frame hashes are, in words."""
    head, fmt = reader.header, reader.info.format
    if not head.hashed:
        return "no frame hashes"
    of = "the source frames" if head.fixity_kind == fixity.FIXITY_SOURCE else \
        "the decoded frames (bounded groups differ from the source)"
    return f"MD5 of {of}, as {fixity.name_of(head.hash_layout, fmt)}"


def describe(path: str | os.PathLike) -> dict:
    """Stream and per-group facts, as plain data (``info --json``). Every frame's
    structure is checked (kind, lengths against what its samples need), none decoded."""
    with FcvReader(path) as reader:
        info = reader.info
        groups = []
        ends = [g.offset for g in reader.groups[1:]] + [None]
        for g, (entry, end) in enumerate(zip(reader.groups, ends)):
            header, records = read_group_header(reader, g)
            layout = Layout(info, header.log2_block, header.slices, list(header.slice_starts))
            coded = budget.CodedSamples(layout, header)  # once per group, not per frame
            for record in records:
                check_frame(layout, coded, record, g)
            size = (end if end is not None else _end_of_groups(reader)) - entry.offset
            groups.append({
                "index": g, "first_frame": entry.first_frame, "frames": entry.frame_count,
                "bytes": size, "model_bytes": len(header.model.to_bytes()),
                "dictionary_entries": len(header.dictionary),
                "palettes": [{"planes": list(p.planes), "colours": len(p)}
                             for p in header.dictionary.palettes],
                "differences": header.dictionary.differences,
                "max_error": header.max_error,
                "slices": header.slices, "slice_starts": list(header.slice_starts),
                "block": 1 << header.log2_block,
                "references": header.refs,
                "order": "two-sided" if header.two_sided else "display",
                "pull": header.pull,
                "started": REASONS.get(header.reason, f"reason {header.reason}"),
                "decode_memory": budget.working_memory(layout, header),
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
                "fixity": fixity_text(reader),
                "source_format": info.source_format,
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
    fixity: str = ""
    hashes_checked: int = 0
    hashes_differ: list[int] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [f"{self.path}: {self.frames}/{self.expected_frames} frames decoded"]
        if self.hashes_checked:
            out.append(f"{self.fixity}: {self.hashes_checked - len(self.hashes_differ)}"
                       f"/{self.hashes_checked} decoded frames match")
        elif self.fixity:
            out.append(f"{self.fixity}: checked every chunk's CRC and decoded every frame")
        if self.max_error:
            psnr = ", ".join(_db(v) for v in self.psnr)
            out.append(f"max error per plane {self.max_error} (bound {self.bound}); "
                       f"PSNR per plane {psnr} dB")
            out.append("PSNR per group (all samples): "
                       + ", ".join(_db(v) for v in self.group_psnr) + " dB")
        out += [f"problem: {p}" for p in self.problems[:_SHOWN_PROBLEMS]]
        if len(self.problems) > _SHOWN_PROBLEMS:
            out.append(f"... and {len(self.problems) - _SHOWN_PROBLEMS} more problems")
        out.append("sound" if self.sound else "NOT sound")
        return out


def verify(path: str | os.PathLike, source: str | os.PathLike | None = None, *,
           threads: int = 1, max_memory: int | None = None) -> VerifyReport:
    """Check every chunk's CRC, decode every frame and check it against its stored
    MD5; compare to ``source`` if given. Damage is reported; a file that cannot be
    opened, or asks for more than its bytes or ``max_memory`` allow, raises."""
    report = VerifyReport(str(path))
    reader = FcvReader(path)
    with reader:
        info = reader.info
        peak = info.format.max_value
        report.expected_frames = info.frame_count or reader.frame_count
        report.bound = reader.header.max_error
        report.fixity = fixity_text(reader)

        def mismatch(group: int, frame: int) -> None:
            report.hashes_differ.append(frame)
            report.problems.append(f"frame {frame} (group {group}) does not match its stored "
                                   "MD5")

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
                for index, frame in iter_group(reader, g, threads, on_mismatch=mismatch,
                                               max_memory=max_memory):
                    report.frames += 1
                    report.hashes_checked += reader.header.hashed
                    if src_frames is None:
                        continue
                    original = next(src_frames, None)
                    if original is None:
                        report.problems.append(f"source has fewer frames than frame {index}")
                        src_frames = None
                        continue
                    group.add(original, frame)
            except LimitError:
                raise
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


def framemd5(path: str | os.PathLike, *, decode: bool = False, threads: int = 1,
             max_memory: int | None = None) -> tuple[list[str], list[str]]:
    """(lines, notes): the file's frames in ffmpeg's framemd5 format, and what a
    reader comparing them with ``ffmpeg -i SRC -f framemd5 -`` should know.

    The hashes are the stored ones (each frame chunk's CRC checked), or, with
    ``decode`` or in a file without them, those of the decoded frames. Timing
    follows ffmpeg's command line: time base 1/frame rate, timestamps counted
    from the source's start time, each frame's own duration.
    """
    with FcvReader(path) as reader:
        info, head = reader.info, reader.header
        fmt = info.format
        layout = head.hash_layout if head.hashed else fixity.PLANAR
        tb = 1 / info.frame_rate
        origin = _rescale(Fraction(info.start_time, 1_000_000), tb)
        size = fixity.layout_size(layout, fmt, info.width, info.height)
        sar = info.sample_aspect if info.sample_aspect else Fraction(0)
        lines = ["#format: frame checksums", "#version: 2", "#hash: MD5",
                 f"#tb 0: {tb.numerator}/{tb.denominator}", "#media_type 0: video",
                 "#codec_id 0: rawvideo", f"#dimensions 0: {info.width}x{info.height}",
                 f"#sar 0: {sar.numerator}/{sar.denominator if sar else 1}",
                 "#stream#, dts,        pts, duration,     size, hash"]
        notes = _framemd5_notes(reader, layout, decode)
        for g in range(len(reader.groups)):
            if decode or not head.hashed:
                frames = ((i, f.pts, f.duration, f.md5 or fixity.frame_md5(f.planes, fmt, layout))
                          for i, f in iter_group(reader, g, threads, max_memory=max_memory))
            else:
                _, records = read_group_header(reader, g)
                frames = ((r.index, r.pts, r.duration, r.md5) for r in records)
            for _, pts, duration, md5 in frames:
                ts = _rescale(Fraction(pts or 0) * info.time_base, tb) - origin
                dur = _rescale(Fraction(duration) * info.time_base, tb) if duration else 1
                lines.append(f"0, {ts:10d}, {ts:10d}, {dur:8d}, {size:8d}, {md5.hex()}")
    return lines, notes


def _rescale(seconds: Fraction, tb: Fraction) -> int:
    """``seconds`` in units of ``tb``, rounded half away from zero (av_rescale_q)."""
    v = seconds / tb
    return int(v + Fraction(1, 2)) if v >= 0 else -int(-v + Fraction(1, 2))


def _framemd5_notes(reader: FcvReader, layout: int, decode: bool) -> list[str]:
    head, info = reader.header, reader.info
    name = fixity.name_of(layout, info.format)
    notes = []
    if not head.hashed:
        notes.append("the file stores no frame hashes: these are of its decoded frames")
    elif decode:
        notes.append("hashes of the decoded frames (every one is also checked against the "
                     "stored one)")
    if head.fixity_kind == fixity.FIXITY_DECODED:
        notes.append(f"coded with a bound (max error {head.max_error}): the hashes are of "
                     "the decoded frames, which match the source's only in groups coded "
                     "without loss")
    if info.source_format and name != info.source_format:
        notes.append(f"the source decoded as {info.source_format}, which framecodec keeps "
                     f"as {info.pix_fmt}: these are MD5s of its {name} frames, as `ffmpeg -i "
                     f"SRC -pix_fmt {name} -f framemd5 -` prints them")
    return notes
