# SPDX-License-Identifier: MIT
"""What users get back: every pixel format, timing, colour tags, audio, outputs."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import framecodec
from framecodec import cli
from framecodec.io import media
from framecodec.frames import ColorInfo, Frame, VideoInfo
from framecodec.pixfmt import by_name
from helpers import (FAST, assert_frames_equal, corpus_clip, max_abs_error, moving_pattern,
                     read_frames, write_clip)

ANIMATION = "animation_wannaworktogether_480x352.mp4"
BOARD = "screen_gnome-message-board_274x268.mkv"
CARPHONE = "camera_carphone_176x144.mkv"


def coded(src, tmp_path, name="c.fcv", **kw):
    out = tmp_path / name
    kw.setdefault("settings", FAST)
    framecodec.encode(src, out, overwrite=True, **kw)
    return out


def raw_clip(path: Path, av_format: str, width: int, height: int, count: int = 3, seed: int = 0,
             **stream_options) -> list[av.VideoFrame]:
    """A rawvideo .nut clip in ``av_format`` with smooth random content."""
    rng = np.random.default_rng(seed)
    container = av.open(str(path), "w", format="nut")
    stream = container.add_stream("rawvideo", rate=25)
    stream.width, stream.height, stream.pix_fmt = width, height, av_format
    written = []
    for t in range(count):
        frame = av.VideoFrame(width, height, av_format)
        for plane in frame.planes:
            view = np.frombuffer(plane, np.uint8)
            base = rng.integers(0, 256, view.size, dtype=np.uint8)
            view[:] = np.convolve(base, np.ones(3) / 3, mode="same").astype(np.uint8) + t
        frame.pts = t
        container.mux(stream.encode(frame))
        written.append(frame)
    container.mux(stream.encode(None))
    container.close()
    return written


# ---------------------------------------------------------------- pixel formats

NATIVE = ["gray", "yuv420p", "yuv422p", "yuv444p", "gbrp", "yuva420p", "yuva444p", "gbrap",
          "gray16le", "gray10le", "yuv420p10le", "yuv422p10le", "yuv444p10le", "yuv420p12le",
          "gbrp10le", "gbrp12le"]


@pytest.mark.parametrize("pix_fmt", NATIVE)
def test_native_formats_round_trip_at_their_depth(tmp_path, pix_fmt):
    info, frames = moving_pattern(pix_fmt, 36, 20, count=3)
    src = write_clip(tmp_path / "src.mkv", info, frames)
    out = coded(src, tmp_path)
    decoded = list(framecodec.decode_frames(out))
    assert_frames_equal(decoded, frames)
    with framecodec.open(out) as reader:
        assert reader.info.pix_fmt == pix_fmt
        assert reader.info.format.bit_depth == framecodec.VideoInfo(1, 1, pix_fmt).format.bit_depth


@pytest.mark.parametrize("av_format, native", [
    ("rgb24", "gbrp"), ("bgr24", "gbrp"), ("bgr0", "gbrp"), ("rgb0", "gbrp"), ("rgba", "gbrap"),
    ("nv12", "yuv420p"),
])
def test_packed_sources_round_trip_as_their_samples(tmp_path, av_format, native):
    raw_clip(tmp_path / "src.nut", av_format, 33, 18)
    info, source = read_frames(tmp_path / "src.nut")
    assert info.pix_fmt == native
    out = coded(tmp_path / "src.nut", tmp_path)
    assert_frames_equal(list(framecodec.decode_frames(out)), source)


def test_full_range_yuvj_keeps_range(tmp_path):
    src = tmp_path / "j.avi"  # MJPEG decodes to full-range yuvj420p
    container = av.open(str(src), "w")
    stream = container.add_stream("mjpeg", rate=25)
    stream.width, stream.height, stream.pix_fmt = 32, 16, "yuvj420p"
    rng = np.random.default_rng(2)
    for t in range(3):
        rgb = rng.integers(0, 256, (16, 32, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
        frame.pts = t
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    info, source = read_frames(src)
    assert info.color.color_range == 2
    out = coded(src, tmp_path)
    with framecodec.open(out) as reader:
        assert reader.info.pix_fmt in ("yuvj420p", "yuv420p")
        assert reader.info.color.color_range == 2
    assert_frames_equal(list(framecodec.decode_frames(out)), source)
    framecodec.decode(out, tmp_path / "j.mkv")
    back_info, back = read_frames(tmp_path / "j.mkv")
    assert back_info.color.color_range == 2  # JPEG / full range
    assert all(np.array_equal(a, b) for f, g in zip(back, source) for a, b in zip(f.planes, g.planes))


def test_gif_palette_source(tmp_path):
    src = tmp_path / "anim.gif"
    container = av.open(str(src), "w", format="gif")
    stream = container.add_stream("gif", rate=10)
    stream.width, stream.height, stream.pix_fmt = 24, 16, "pal8"
    palette = np.zeros((256, 4), np.uint8)  # B, G, R, A
    palette[:3] = [(40, 40, 40, 255), (30, 30, 200, 255), (90, 200, 10, 255)]
    for t in range(3):
        indices = np.zeros((16, 24), np.uint8)
        indices[:, : 8 + 4 * t] = 1
        indices[3 + t, :] = 2
        frame = av.VideoFrame(24, 16, "pal8")
        np.frombuffer(frame.planes[0], np.uint8).reshape(16, -1)[:, :24] = indices
        frame.planes[1].update(palette)
        frame.pts = t
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    info, source = read_frames(src)
    assert info.pix_fmt in ("gbrp", "gbrap")
    out = coded(src, tmp_path)
    assert_frames_equal(list(framecodec.decode_frames(out)), source)


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (3, 5), (17, 9)])
def test_tiny_and_odd_frames(tmp_path, size):
    info, frames = moving_pattern("yuv420p", *size, count=3)
    out = coded(write_clip(tmp_path / "s.mkv", info, frames), tmp_path, max_error=1)
    assert max_abs_error(list(framecodec.decode_frames(out)), frames) <= 1


def test_unsupported_format_is_refused_with_a_hint(tmp_path):
    raw_clip(tmp_path / "be.nut", "yuv420p10be", 32, 16)
    code = cli.main(["encode", str(tmp_path / "be.nut"), "-o", str(tmp_path / "x.fcv")])
    assert code == 2 and not (tmp_path / "x.fcv").exists()


# ---------------------------------------------------------------- images


def test_png_sequence_and_single_png(tmp_path):
    info, frames = moving_pattern("gbrp", 30, 20, count=4)
    write_clip(tmp_path / "src.mkv", info, frames)
    (tmp_path / "seq").mkdir()
    framecodec.decode(coded(tmp_path / "src.mkv", tmp_path, "a.fcv"),
                      tmp_path / "seq" / "%05d.png")
    pngs = sorted((tmp_path / "seq").glob("*.png"))
    assert [p.name for p in pngs] == ["00001.png", "00002.png", "00003.png", "00004.png"]
    _, from_seq = read_frames(tmp_path / "seq" / "%05d.png")
    assert_frames_equal([dataclasses.replace(f, pts=None) for f in from_seq],
                        [dataclasses.replace(f, pts=None) for f in frames])  # RGB PNG: exact
    out = coded(tmp_path / "seq" / "%05d.png", tmp_path, "seq.fcv")
    assert_frames_equal(list(framecodec.decode_frames(out)), from_seq)
    still = coded(pngs[0], tmp_path, "still.fcv")
    (only,) = framecodec.decode_frames(still)
    assert all(np.array_equal(a, b) for a, b in zip(only.planes, frames[0].planes))


# ---------------------------------------------------------------- timing and metadata


def test_variable_timing_survives(tmp_path):
    src = corpus_clip(BOARD)
    info, source = read_frames(src)
    out = coded(src, tmp_path, group_size=16)
    decoded = list(framecodec.decode_frames(out))
    assert [f.pts for f in decoded] == [f.pts for f in source]
    assert len(decoded) == 39 and len(set(np.diff([f.pts for f in source]))) > 1
    with framecodec.open(out) as reader:
        assert reader.info.time_base == info.time_base
        assert reader.info.frame_rate == info.frame_rate
        assert reader.info.frame_count == 39
    framecodec.decode(out, tmp_path / "b.mkv", frames=(0, 12))
    back_info, back = read_frames(tmp_path / "b.mkv")
    times = [float(f.pts * back_info.time_base) for f in back]
    assert times == pytest.approx([float(f.pts * info.time_base) for f in source[:12]],
                                  abs=1e-3)


def test_colour_tags_aspect_and_rotation_survive(tmp_path):
    info, frames = moving_pattern("yuv420p", 32, 16, count=2)
    tagged = dataclasses.replace(info, color=ColorInfo(1, 1, 1, 1),
                                 sample_aspect=Fraction(128, 117), rotation=90)
    src = write_clip(tmp_path / "src.mp4", tagged, frames)  # lossless? no: playable source
    source_info, source = read_frames(src)
    out = coded(src, tmp_path)
    with framecodec.open(out) as reader:
        got = reader.info
    assert got.color == source_info.color == ColorInfo(1, 1, 1, 1)
    assert got.sample_aspect == Fraction(128, 117) and got.rotation == 90
    for ext in ("mp4", "mkv"):
        framecodec.decode(out, tmp_path / f"o.{ext}")
        back, _ = read_frames(tmp_path / f"o.{ext}")
        assert back.color == got.color and back.rotation == 90, ext
    back, _ = read_frames(tmp_path / "o.mp4")
    assert back.sample_aspect == Fraction(128, 117)


# ---------------------------------------------------------------- audio


def audio_of(path):
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        stream = c.streams.audio[0]
        packets = [p for p in c.demux(stream) if p.size]
        return stream.codec_context.name, len(packets), bytes(packets[5]) if len(packets) > 5 \
            else b""


def test_audio_is_carried_untouched(tmp_path):
    src = corpus_clip(ANIMATION)
    out = coded(src, tmp_path)  # the whole clip: 90 frames, all its audio
    name, count, sample = audio_of(src)
    for ext in ("mp4", "mkv"):
        framecodec.decode(out, tmp_path / f"a.{ext}")
        got = audio_of(tmp_path / f"a.{ext}")
        assert got == (name, count, sample), ext  # same packets, same bytes: no re-encode
    framecodec.decode(out, tmp_path / "quiet.mp4", audio=False)
    assert audio_of(tmp_path / "quiet.mp4") is None
    silent = coded(src, tmp_path, "silent.fcv", audio=False, frames=(0, 4))
    with framecodec.open(silent) as reader:
        assert reader.audio() is None


def test_audio_follows_a_frame_range(tmp_path):
    src = corpus_clip(ANIMATION)
    out = coded(src, tmp_path, frames=(0, 30), group_size=15)
    framecodec.decode(out, tmp_path / "part.mkv", frames=(15, 30))
    with av.open(str(tmp_path / "part.mkv")) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        times = [float(p.pts * p.time_base) for p in c.demux(audio) if p.size]
    assert 0.45 < times[0] < 0.55 and times[-1] < 1.05  # frames 15..29 at 29.97 fps


# ---------------------------------------------------------------- outputs


def test_y4m_to_stdout(tmp_path):
    info, frames = moving_pattern("yuv420p", 32, 16, count=3)
    out = coded(write_clip(tmp_path / "s.mkv", info, frames), tmp_path)
    done = subprocess.run([sys.executable, "-m", "framecodec", "decode", str(out), "-o", "-"],
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (tmp_path / "piped.y4m").write_bytes(done.stdout)
    assert_frames_equal([dataclasses.replace(f, pts=None) for f in
                         read_frames(tmp_path / "piped.y4m")[1]],
                        [dataclasses.replace(f, pts=None) for f in frames])
    assert b"frames" in done.stderr  # the summary stays off stdout


def test_png_of_yuv_is_a_view_and_says_so(tmp_path, capsys):
    info, frames = moving_pattern("yuv420p", 32, 16, count=2)
    out = coded(write_clip(tmp_path / "s.mkv", info, frames), tmp_path)
    (tmp_path / "png").mkdir()
    assert cli.main(["decode", str(out), "-o", str(tmp_path / "png" / "%03d.png")]) == 0
    said = capsys.readouterr().out
    assert "the output is lossy (PNG rgb24 of yuv420p): PSNR" in said
    assert "; .mkv or .y4m give the exact frames" in said
    assert len(list((tmp_path / "png").glob("*.png"))) == 2


def _measured(path, info, frames, back: dict) -> tuple[float, int]:
    """PSNR and max error of a written output, decoded independently with PyAV."""
    from framecodec.io.planes import planes_from_videoframe
    from framecodec.metrics import PlaneStats

    stats = PlaneStats()
    with av.open(str(path)) as container:
        for picture, want in zip(container.decode(video=0), frames, strict=True):
            # widened first: swscale's YUV to RGB reads past the edge of an odd chroma width
            yuv = planes_from_videoframe(picture, "yuv420p")
            wide = [np.pad(p, ((0, 0), (0, 96 // (1 + (i > 0)) - p.shape[1])), mode="edge")
                    for i, p in enumerate(yuv)]
            picture = media.videoframe_from_planes(wide, by_name("yuv420p"), 96,
                                                   picture.height)
            planes = planes_from_videoframe(picture.reformat(threads=1, **back),
                                            back["format"])
            shapes = info.plane_shapes()
            stats.add(want, framecodec.Frame([p[:h, :w] for p, (h, w) in zip(planes, shapes)]))
    return stats.psnr(info.format.max_value), stats.worst


@pytest.mark.parametrize("pix_fmt, back", [
    ("yuv420p", {"format": "yuv420p"}),
    ("yuv444p", {"format": "yuv444p"}),
    ("gbrp", {"format": "gbrp", "src_colorspace": "ITU709", "src_color_range": "MPEG",
              "dst_color_range": "JPEG"}),
])
def test_lossy_outputs_report_what_they_keep(tmp_path, pix_fmt, back):
    """A playable mp4 and PNG of YUV: the summary gives the PSNR and max error that
    decoding the written file gives; exact outputs say nothing."""
    info, frames = moving_pattern(pix_fmt, 33, 17, count=5)
    out = coded(write_clip(tmp_path / "s.mkv", info, frames), tmp_path)
    result = framecodec.decode(out, tmp_path / "play.mp4", crf=30)
    f = result.fidelity
    assert f is not None and f.frames == 5 and f.what == "H.264 yuv420p at crf 30"
    psnr, worst = _measured(tmp_path / "play.mp4", info, frames, back)
    assert f.max_error == worst > 0 and abs(f.psnr - psnr) < 1e-9
    assert "the output is lossy (H.264 yuv420p at crf 30): PSNR" in result.summary()
    assert "--lossless, .mkv or .y4m give the exact frames" in result.summary()
    assert framecodec.decode(out, tmp_path / "exact.mkv").fidelity is None


def test_numpy_frames_through_the_api(tmp_path):
    src = corpus_clip(CARPHONE)
    out = coded(src, tmp_path, frames=(0, 6), group_size=3)
    frames = list(framecodec.decode_frames(out, frames=(4, 6)))
    assert len(frames) == 2 and frames[0].planes[0].shape == (144, 176)
    assert frames[0].planes[0].dtype == np.uint8


# ---------------------------------------------------------------- damage


def test_conceal_repeats_the_last_good_frame(tmp_path, capsys):
    info, frames = moving_pattern("yuv420p", 32, 16, count=6)
    out = coded(write_clip(tmp_path / "s.mkv", info, frames), tmp_path, group_size=3)
    with framecodec.open(out) as reader:
        second = reader.groups[1].offset
    data = bytearray(out.read_bytes())
    data[second + 40] ^= 0xFF  # inside group 1's header
    bad = tmp_path / "bad.fcv"
    bad.write_bytes(bytes(data))
    assert cli.main(["decode", str(bad), "-o", str(tmp_path / "x.mkv")]) == 2
    assert "group 1" in capsys.readouterr().err and not (tmp_path / "x.mkv").exists()
    assert cli.main(["decode", str(bad), "-o", str(tmp_path / "x.mkv"), "--conceal"]) == 1
    err = capsys.readouterr().err
    assert [f"concealed frame {k}" in err for k in (3, 4, 5)] == [True] * 3
    _, got = read_frames(tmp_path / "x.mkv")
    assert len(got) == 6
    assert_frames_equal([dataclasses.replace(f, pts=None) for f in got[:3]],
                        [dataclasses.replace(f, pts=None) for f in frames[:3]])
    assert all(np.array_equal(g.planes[0], got[2].planes[0]) for g in got[3:])
