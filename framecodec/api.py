# SPDX-License-Identifier: MIT
"""The Python API: what the CLI calls and what users script.

    import framecodec
    result = framecodec.encode("clip.mp4", "clip.fcv", max_error=0)
    framecodec.decode("clip.fcv", "clip.mkv")
    for frame in framecodec.decode_frames("clip.fcv", frames=(10, 20)):
        y = frame.planes[0]

A facade: it checks arguments and hands the work to the encoder
(encoder/pipeline.py), the decoder (coding/decoder.py) and the media writers
(io/). Decoding imports nothing from the encoder, and so never torch.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .coding.decoder import iter_frames
from .errors import UsageError
from .format.container import FcvReader
from .frames import Frame
from .io.outputs import atomic_output, atomic_sequence, check_output, is_sequence
from .machine import cores
from .progress import progress_bar
from .results import DecodeResult, EncodeResult

__all__ = ["encode", "decode", "decode_frames", "EncodeResult", "DecodeResult", "FrameRange"]

FrameRange = tuple[int, int | None] | None


def _check_range(frames: FrameRange) -> tuple[int, int | None]:
    if frames is None:
        return 0, None
    start, stop = frames
    if start < 0 or (stop is not None and stop <= start):
        raise UsageError(f"frame range {start}:{'' if stop is None else stop} is empty "
                         "or negative")
    return start, stop


def encode(src: str | os.PathLike, dst: str | os.PathLike | None = None, *,
           settings=None, max_error: int | None = None, frames: FrameRange = None,
           group_size: int | None = None, min_group: int | None = None,
           max_group: int | None = None, jobs: int | None = None, threads: int | None = None,
           overwrite: bool = False, progress: bool = False, audio: bool = True,
           target_psnr: float | None = None, target_size: int | None = None,
           on_group: Callable[[int, int], None] | None = None, ray: bool = False,
           ray_address: str | None = None, shared_input: bool = False,
           resume: bool = False) -> EncodeResult:
    """Encode a video or frame sequence into a .fcv file.

    ``settings`` (an ``EncodeSettings``: a preset, a tuned framecodec.toml, or
    the defaults) says how to code; ``max_error`` (0: lossless), ``group_size``,
    ``min_group`` and ``max_group``, when given, override it. ``frames`` is a
    [start, stop) range of source frames. ``target_psnr`` (dB, over all samples
    of each group) or ``target_size`` (bytes of the whole file) choose each
    group's bound instead of ``max_error`` and are met by measurement. ``jobs``
    groups are coded in parallel processes sharing ``threads`` threads (both
    default to the machine's cores; the file's bytes depend on neither). The
    first audio stream is kept as its original packets unless ``audio`` is False.

    ``ray`` codes the groups as Ray tasks instead: on the cluster at
    ``ray_address`` (giving one implies ``ray``), else at $RAY_ADDRESS, else
    on a local Ray instance; ``shared_input`` lets each task read its own
    frames from ``src`` (which every node must see at the same path) instead
    of receiving them from this process; there ``threads`` (default 1) is
    each group's, as each task asks Ray for that many CPUs. ``resume`` continues an interrupted
    encode of the same source and settings from the journal it left next to
    ``dst``, coding only the groups it lacks (the file is the same).
    """
    from .encoder.pipeline import encode_file
    from .encoder.settings import EncodeSettings
    from .encoder.targets import Target

    src = Path(src)
    dst = Path(dst) if dst is not None else src.with_suffix(".fcv")
    start, stop = _check_range(frames)
    overrides = {"max_error": max_error, "group_size": group_size, "min_group": min_group,
                 "max_group": max_group}
    settings = (settings or EncodeSettings()).replace(
        **{k: v for k, v in overrides.items() if v is not None})
    clustered = ray or ray_address is not None
    jobs = cores() if jobs is None else jobs
    # on Ray every group is a task asking for ``threads`` CPUs: one each keeps
    # every CPU of the cluster on a group of its own, the cheapest way to use them
    threads = (1 if clustered else cores()) if threads is None else threads
    if jobs < 1 or threads < 1:
        raise UsageError("--jobs and --threads must be at least 1")
    if target_psnr is not None and target_size is not None:
        raise UsageError("choose one target: --target-psnr or --target-size")
    if target_psnr is not None and not 0 < target_psnr < 200:
        raise UsageError("--target-psnr must be a positive number of dB")
    if target_size is not None and target_size < 1024:
        raise UsageError("--target-size must be at least 1024 bytes")
    cluster = None
    if clustered:
        from .encoder.cluster import RayOptions

        cluster = RayOptions(ray_address, shared_input)
    elif shared_input:
        raise UsageError("--shared-input is for --ray: local workers already share the file")
    t0 = time.perf_counter()
    result = encode_file(src, dst, settings, start=start, stop=stop, jobs=jobs,
                         threads=threads, overwrite=overwrite, progress=progress, audio=audio,
                         target=Target(target_psnr, target_size), on_group=on_group,
                         cluster=cluster, resume=resume)
    result.seconds = time.perf_counter() - t0
    return result


def decode_frames(src: str | os.PathLike, *, frames: FrameRange = None,
                  threads: int | None = None, conceal: bool = False,
                  on_damage: Callable[[int, str], None] | None = None,
                  max_memory: int | None = None) -> Iterator[Frame]:
    """Decoded frames of a .fcv file in [start, stop), reading only the groups needed.

    Damage raises ``CorruptError`` naming the group and frame; so does a frame
    that does not match its stored MD5. With ``conceal``, a damaged frame and
    the rest of its group (which predict from it) repeat the last good frame
    instead, each reported through ``on_damage(frame, reason)``, and decoding
    goes on with the next group. A group that would need more than
    ``max_memory`` bytes (default: a share of physical memory) raises
    ``LimitError`` before anything is allocated.
    """
    start, stop = _check_range(frames)
    threads = cores() if threads is None else threads
    with FcvReader(src) as reader:
        yield from iter_frames(reader, start, stop, threads=threads, conceal=conceal,
                               on_damage=on_damage, max_memory=max_memory)


def decode(src: str | os.PathLike, dst: str | os.PathLike, *, frames: FrameRange = None,
           threads: int | None = None, overwrite: bool = False, lossless: bool = False,
           crf: int | None = None, progress: bool = False, audio: bool = True,
           conceal: bool = False, on_damage: Callable[[int, str], None] | None = None,
           max_memory: int | None = None) -> DecodeResult:
    """Decode a .fcv file to a media file chosen by extension (.y4m, .mkv, .mp4, PNGs).

    Stored audio is muxed into .mkv and .mp4 outputs (cut to the decoded frames'
    span) unless ``audio`` is False. A lossy output (H.264 without ``lossless``,
    PNG of a YUV file) is decoded back as it is written, and the result's
    ``fidelity`` says how far it is from the decoded frames.
    """
    from .io import media

    t0 = time.perf_counter()
    threads = cores() if threads is None else threads
    to_stdout = str(dst) == "-"
    src, dst = Path(src), Path(dst)
    kind = "y4m" if to_stdout else media.output_kind(dst)
    start, stop = _check_range(frames)
    with FcvReader(src) as reader:
        info = reader.info
        total = max(0, min(reader.frame_count, stop or reader.frame_count) - start)
        stored = reader.audio() if audio and kind in ("mkv", "mp4") else None
        window = None
        if stored is not None and total:
            window = _audio_window(reader, stored[0], start, stop)
    if not to_stdout and not is_sequence(dst):
        check_output(dst, overwrite=overwrite, inputs=(src,))
    # the first frame before any output exists: a file that cannot be decoded fails at once
    decoded = decode_frames(src, frames=frames, threads=threads, conceal=conceal,
                            on_damage=on_damage, max_memory=max_memory)
    first = next(decoded, None)
    count = 0
    with progress_bar(progress, total, "decode") as bar, \
            tempfile.TemporaryDirectory(prefix="framecodec-") as scratch:
        track = None
        if window is not None:
            path = Path(scratch) / "audio.mka"
            path.write_bytes(stored[1])
            track = media.AudioTrack(path, *window)
        if to_stdout:
            target = contextlib.nullcontext(sys.stdout.buffer)
        elif is_sequence(dst):
            target = atomic_sequence(dst, overwrite=overwrite)
        else:
            target = atomic_output(dst, overwrite=overwrite, inputs=(src,))
        with target as tmp:
            with media.open_writer(tmp, info, kind=kind, lossless=lossless, crf=crf,
                                   threads=threads, audio=track) as writer:
                for frame in itertools.chain([first] if first is not None else [], decoded):
                    writer.write(frame)
                    count += 1
                    bar.update(1)
            fidelity = writer.fidelity
    return DecodeResult(dst, count, time.perf_counter() - t0, fidelity)


def _audio_window(reader: FcvReader, audio, start: int, stop: int | None):
    """Seconds [from, to) of audio that belong with frames [start, stop)."""
    info = reader.info
    first, last = audio.start, audio.end
    if start > 0:
        first = max(first, float(reader.frame_pts(start) * info.time_base))
    if stop is not None and stop < reader.frame_count:
        last = min(last, float(reader.frame_pts(stop) * info.time_base))
    return first, last
