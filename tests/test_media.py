# SPDX-License-Identifier: MIT
"""media.py: decoding to native planes, bit-exact writers, one-line errors."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from framecodec.io import media
from framecodec.errors import InputError, UsageError
from framecodec.frames import ColorInfo, Frame, VideoInfo
from framecodec.pixfmt import by_name

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

# name: (width, height, frame count, pixel format), as in SOURCES.md
CLIPS = {
    "camera_carphone_176x144.mkv": (176, 144, 100, "yuv420p"),
    "camera_bikes_640x272.mp4": (640, 272, 76, "yuv420p"),
    "animation_wannaworktogether_480x352.mp4": (480, 352, 90, "yuv420p"),
    "screen_gnome-message-board_274x268.mkv": (274, 268, 39, "yuv444p"),
    "synthetic_lebiniou-wave_320x180.mkv": (320, 180, 100, "yuv420p"),
    "static_vtest-surveillance_768x576.mkv": (768, 576, 30, "yuv420p"),
}
BOARD = "screen_gnome-message-board_274x268.mkv"
CARPHONE = "camera_carphone_176x144.mkv"
ANIMATION = "animation_wannaworktogether_480x352.mp4"


def clip(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"corpus clip {name} not available")
    return path


def read(path, start=0, stop=None) -> tuple[VideoInfo, list[Frame]]:
    with media.open_source(path) as source:
        return source.info, list(source.frames(start, stop))


def write(path, info: VideoInfo, frames, **options) -> None:
    with media.open_writer(path, info, **options) as writer:
        for frame in frames:
            writer.write(frame)


def synthetic(pix_fmt: str, width: int, height: int, count: int = 3, seed: int = 0,
              time_base=Fraction(1, 25)) -> tuple[VideoInfo, list[Frame]]:
    """Random full-scale samples: every bit of every plane matters."""
    rng = np.random.default_rng(seed)
    info = VideoInfo(width, height, pix_fmt, time_base=time_base)
    fmt = by_name(pix_fmt)
    frames = [
        Frame([rng.integers(0, fmt.max_value + 1, shape).astype(fmt.dtype)
               for shape in info.plane_shapes()], pts=i)
        for i in range(count)
    ]
    return info, frames


def assert_same_frames(got: list[Frame], want: list[Frame]) -> None:
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert [p.dtype for p in a.planes] == [p.dtype for p in b.planes], f"frame {i}"
        assert a.equals(b), f"frame {i} differs"


def seconds(info: VideoInfo, frames: list[Frame]) -> list[Fraction]:
    return [f.pts * info.time_base for f in frames]


# --------------------------------------------------------------------------
# Reading the corpus


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_corpus_info_and_native_planes(name):
    width, height, count, pix_fmt = CLIPS[name]
    info, frames = read(clip(name), stop=3)
    assert (info.width, info.height, info.pix_fmt) == (width, height, pix_fmt)
    assert info.frame_rate > 0 and info.time_base > 0
    for frame in frames:
        assert [p.shape for p in frame.planes] == info.plane_shapes()
        assert all(p.dtype == np.uint8 and p.flags.c_contiguous for p in frame.planes)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg CLI not installed")
@pytest.mark.parametrize("name", sorted(CLIPS))
def test_corpus_samples_match_ffmpeg(name):
    path = clip(name)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-threads", "1", "-i", str(path), "-map", "0:v:0",
         "-frames:v", "3", "-fps_mode", "passthrough", "-f", "rawvideo", "-"],
        check=True, capture_output=True).stdout
    _, frames = read(path, stop=3)
    assert b"".join(p.tobytes() for f in frames for p in f.planes) == raw


def test_corpus_frame_counts():
    for name, (_, _, count, _) in CLIPS.items():
        with media.open_source(clip(name)) as source:
            assert sum(1 for _ in source.frames()) == count, name


def test_variable_timing_clip():
    info, frames = read(clip(BOARD))
    assert len(frames) == 39
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in zip(pts, pts[1:]))
    steps = sorted({(b - a) * info.time_base for a, b in zip(pts, pts[1:])})
    assert steps == [Fraction(1, 10), Fraction(1, 5)]  # one frame lasts 0.2 s


def test_variable_timing_survives_mkv(tmp_path):
    info, frames = read(clip(BOARD))
    write(tmp_path / "board.mkv", info, frames)
    info2, frames2 = read(tmp_path / "board.mkv")
    assert_same_frames(frames2, frames)
    assert seconds(info2, frames2) == seconds(info, frames)


def test_frames_subrange_and_repeat():
    path = clip(CARPHONE)
    with media.open_source(path) as source:
        head = list(source.frames(0, 6))
        middle = list(source.frames(3, 5))
        again = list(source.frames(0, 2))
    assert_same_frames(middle, head[3:5])
    assert_same_frames(again, head[:2])
    assert media.probe(path).pix_fmt == "yuv420p"


# --------------------------------------------------------------------------
# Bit-exact round trips


@pytest.mark.parametrize("name", [CARPHONE, BOARD, ANIMATION])
@pytest.mark.parametrize("ext", ["y4m", "mkv"])
def test_corpus_round_trip(tmp_path, name, ext):
    info, frames = read(clip(name), stop=5)
    out = tmp_path / f"out.{ext}"
    write(out, info, frames)
    info2, frames2 = read(out)
    assert (info2.width, info2.height, info2.pix_fmt) == (info.width, info.height, info.pix_fmt)
    assert info2.frame_rate == info.frame_rate
    assert_same_frames(frames2, frames)
    if ext == "mkv":  # matroska keeps times to the millisecond
        for a, b in zip(seconds(info2, frames2), seconds(info, frames)):
            assert abs(a - b) <= Fraction(1, 1000)


@pytest.mark.parametrize("name", [CARPHONE, BOARD])
def test_mp4_lossless_round_trip(tmp_path, name):
    info, frames = read(clip(name), stop=5)
    write(tmp_path / "out.mp4", info, frames, lossless=True)
    info2, frames2 = read(tmp_path / "out.mp4")
    assert info2.pix_fmt == info.pix_fmt
    assert_same_frames(frames2, frames)
    assert seconds(info2, frames2) == seconds(info, frames)


@pytest.mark.parametrize("pix_fmt, width, height", [
    ("gray", 32, 16), ("yuv422p", 32, 16), ("yuv444p", 32, 16), ("gbrp", 32, 16),
    ("gbrap", 20, 10), ("yuv420p10le", 32, 16), ("gray16le", 20, 10), ("gbrp12le", 20, 10),
    ("yuv410p", 33, 17), ("yuva420p", 20, 10),
    ("yuv420p", 33, 17), ("yuv422p", 33, 17), ("gbrp", 33, 17),
])
def test_synthetic_mkv_round_trip(tmp_path, pix_fmt, width, height):
    info, frames = synthetic(pix_fmt, width, height)
    write(tmp_path / "out.mkv", info, frames)
    info2, frames2 = read(tmp_path / "out.mkv")
    assert (info2.width, info2.height, info2.pix_fmt) == (width, height, pix_fmt)
    assert_same_frames(frames2, frames)
    if by_name(pix_fmt).bit_depth > 8:
        assert frames2[0].planes[0].dtype == np.uint16


@pytest.mark.parametrize("pix_fmt", ["gray", "yuv420p", "yuv444p", "yuv420p10le", "gray16le"])
def test_synthetic_y4m_round_trip(tmp_path, pix_fmt):
    info, frames = synthetic(pix_fmt, 33, 17)
    write(tmp_path / "out.y4m", info, frames)
    info2, frames2 = read(tmp_path / "out.y4m")
    assert info2.pix_fmt == pix_fmt
    assert_same_frames(frames2, frames)


@pytest.mark.parametrize("pix_fmt, width, height", [
    ("yuv420p10le", 32, 16), ("yuv422p", 32, 16), ("yuv444p", 33, 17), ("gbrp", 33, 17),
])
def test_synthetic_mp4_lossless_round_trip(tmp_path, pix_fmt, width, height):
    info, frames = synthetic(pix_fmt, width, height)
    write(tmp_path / "out.mp4", info, frames, lossless=True)
    info2, frames2 = read(tmp_path / "out.mp4")
    assert info2.pix_fmt == pix_fmt
    assert_same_frames(frames2, frames)


def test_full_range_alias_keeps_samples(tmp_path):
    """yuvj* is written as yuv* tagged full range: same samples, new name."""
    info, frames = synthetic("yuvj420p", 32, 16)
    for ext in ("mkv", "y4m"):
        write(tmp_path / f"out.{ext}", info, frames)
        info2, frames2 = read(tmp_path / f"out.{ext}")
        assert info2.pix_fmt == "yuv420p" and info2.color.color_range == 2
        assert_same_frames(frames2, frames)


# --------------------------------------------------------------------------
# Non-planar sources


def _raw_file(path: Path, av_format: str, width: int, height: int, seed: int = 0):
    """A one-frame rawvideo .nut file in ``av_format``; returns the frame written."""
    rng = np.random.default_rng(seed)
    container = av.open(str(path), "w", format="nut")
    stream = container.add_stream("rawvideo", rate=25)
    stream.width, stream.height, stream.pix_fmt = width, height, av_format
    frame = av.VideoFrame(width, height, av_format)
    for plane in frame.planes:
        view = np.frombuffer(plane, np.uint8)
        view[:] = rng.integers(0, 256, view.size, dtype=np.uint8)
    frame.pts = 0
    container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return frame


def _packed(frame: av.VideoFrame, channels: int) -> np.ndarray:
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : frame.width * channels].reshape(frame.height, frame.width, channels)


@pytest.mark.parametrize("av_format, layout", [
    ("rgb24", "RGB"), ("bgr24", "BGR"), ("rgba", "RGBA"), ("bgra", "BGRA"),
    ("argb", "ARGB"), ("abgr", "ABGR"), ("rgb0", "RGBx"), ("bgr0", "BGRx"),
    ("0rgb", "xRGB"), ("0bgr", "xBGR"),
])
def test_packed_rgb_source_delivered_planar(tmp_path, av_format, layout):
    written = _raw_file(tmp_path / "rgb.nut", av_format, 33, 17)
    info, frames = read(tmp_path / "rgb.nut")
    order = "GBRA" if "A" in layout else "GBR"
    assert info.pix_fmt == ("gbrap" if "A" in layout else "gbrp")
    samples = _packed(written, len(layout))
    want = [samples[..., layout.index(c)] for c in order]
    assert all(np.array_equal(a, b) for a, b in zip(frames[0].planes, want))
    # and PyAV's reformat back to the packed layout gives the same bytes
    planar = media.videoframe_from_planes(frames[0].planes, info.format, 33, 17)
    back = _packed(planar.reformat(format=av_format, threads=1), len(layout))
    keep = [i for i, c in enumerate(layout) if c != "x"]
    assert np.array_equal(back[..., keep], samples[..., keep])


@pytest.mark.parametrize("av_format, u, v", [("nv12", 0, 1), ("nv21", 1, 0)])
def test_semi_planar_source_delivered_as_yuv420p(tmp_path, av_format, u, v):
    written = _raw_file(tmp_path / "nv.nut", av_format, 33, 17)
    info, frames = read(tmp_path / "nv.nut")
    assert info.pix_fmt == "yuv420p"
    luma, chroma = written.planes
    y = np.frombuffer(luma, np.uint8).reshape(17, luma.line_size)[:, :33]
    uv = np.frombuffer(chroma, np.uint8).reshape(9, chroma.line_size)[:, :34].reshape(9, 17, 2)
    for got, want in zip(frames[0].planes, (y, uv[..., u], uv[..., v])):
        assert np.array_equal(got, want)


def test_palette_source_delivered_as_gbrp(tmp_path):
    rng = np.random.default_rng(3)
    indices = rng.integers(0, 5, (17, 33)).astype(np.uint8)
    palette = np.zeros((256, 4), np.uint8)  # bytes B, G, R, A of each entry
    palette[:5, :3] = rng.integers(0, 256, (5, 3))
    palette[:5, 3] = 255
    container = av.open(str(tmp_path / "pal.png"), "w", format="image2")
    stream = container.add_stream("png", rate=25)
    stream.width, stream.height, stream.pix_fmt = 33, 17, "pal8"
    frame = av.VideoFrame(33, 17, "pal8")
    np.frombuffer(frame.planes[0], np.uint8).reshape(17, -1)[:, :33] = indices
    frame.planes[1].update(palette)
    frame.pts = 0
    container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    info, frames = read(tmp_path / "pal.png")
    assert info.pix_fmt == "gbrp"
    for got, byte in zip(frames[0].planes, (1, 0, 2)):
        assert np.array_equal(got, palette[indices, byte])


def test_unsupported_pixel_format_is_named(tmp_path):
    _raw_file(tmp_path / "be.nut", "yuv420p10be", 32, 16)
    with pytest.raises(InputError, match="'yuv420p10be' is not supported"):
        media.open_source(tmp_path / "be.nut")


# --------------------------------------------------------------------------
# Writer behaviour


def test_playable_mp4_from_odd_444(tmp_path):
    yy, xx = np.mgrid[0:17, 0:33]
    smooth = [(xx * 6 + yy).astype(np.uint8), np.full((17, 33), 100, np.uint8),
              np.full((17, 33), 150, np.uint8)]
    info = VideoInfo(33, 17, "yuv444p")
    write(tmp_path / "play.mp4", info, [Frame(smooth, 0), Frame(smooth, 1)])
    info2, frames = read(tmp_path / "play.mp4")
    assert (info2.width, info2.height, info2.pix_fmt) == (34, 18, "yuv420p")
    luma = frames[0].planes[0].astype(int)
    assert np.abs(luma[:17, :33] - smooth[0]).mean() < 2
    assert np.abs(luma[:, 33] - luma[:, 32]).max() <= 3  # padding repeats the edge
    assert np.abs(frames[0].planes[1].astype(int) - 100).max() <= 2


def test_playable_mp4_from_rgb_is_tagged(tmp_path):
    info, frames = synthetic("gbrp", 32, 16, count=2)
    write(tmp_path / "play.mp4", info, frames, crf=30)
    info2 = media.probe(tmp_path / "play.mp4")
    assert info2.pix_fmt == "yuv420p"
    assert (info2.color.color_range, info2.color.matrix) == (1, 1)


def test_metadata_is_written(tmp_path):
    color = ColorInfo(color_range=1, matrix=1, primaries=1, transfer=1)
    info, frames = synthetic("yuv444p", 32, 16, count=1)
    info = VideoInfo(32, 16, "yuv444p", frame_rate=Fraction(30000, 1001),
                     time_base=Fraction(1, 30000), color=color,
                     sample_aspect=Fraction(4, 3), rotation=90)
    for ext in ("mkv", "mp4"):
        write(tmp_path / f"m.{ext}", info, frames, lossless=True)
        got = media.probe(tmp_path / f"m.{ext}")
        assert got.color == color and got.rotation == 90, ext
        assert got.frame_rate == Fraction(30000, 1001), ext
    assert media.probe(tmp_path / "m.mp4").sample_aspect == Fraction(4, 3)


def test_missing_pts_are_numbered(tmp_path):
    info, frames = synthetic("gray", 16, 8)
    write(tmp_path / "n.mkv", info, [Frame(f.planes) for f in frames])
    info2, frames2 = read(tmp_path / "n.mkv")
    assert seconds(info2, frames2) == [0, Fraction(1, 25), Fraction(2, 25)]


def test_kind_comes_from_last_suffix(tmp_path):
    info, frames = synthetic("yuv420p", 32, 16, count=1)
    out = tmp_path / ".out.mp4.abc.part.mkv"
    write(out, info, frames)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "ffv1"
    write(tmp_path / "raw.bin", info, frames, kind="y4m")
    assert (tmp_path / "raw.bin").read_bytes().startswith(b"YUV4MPEG2")


def test_writer_refusals(tmp_path):
    info, frames = synthetic("gbrp", 33, 17, count=1)
    with pytest.raises(UsageError, match=r"\.mkv"):
        media.open_writer(tmp_path / "x.y4m", info)
    with pytest.raises(UsageError, match="extension"):
        media.open_writer(tmp_path / "x.avi", info)
    odd420, _ = synthetic("yuv420p", 33, 17, count=1)
    with pytest.raises(UsageError, match="even"):
        media.open_writer(tmp_path / "x.mp4", odd420, lossless=True)
    with pytest.raises(UsageError, match="lossless mp4"):
        media.open_writer(tmp_path / "x.mp4", synthetic("gbrp16le", 8, 8)[0], lossless=True)
    with pytest.raises(UsageError, match="cannot write"):
        media.open_writer(tmp_path / "no" / "such" / "dir.mkv", info)
    with media.open_writer(tmp_path / "x.mkv", info) as writer:
        with pytest.raises(UsageError, match="expected"):
            writer.write(Frame([p[:-1] for p in frames[0].planes], 0))


# --------------------------------------------------------------------------
# Bad inputs


def _audio_only(path: Path) -> None:
    container = av.open(str(path), "w")
    stream = container.add_stream("pcm_s16le", rate=8000)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
    frame.sample_rate, frame.pts = 8000, 0
    container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()


def _damaged_copy(src: Path, dst: Path, start: int, length: int) -> None:
    data = bytearray(src.read_bytes())
    data[start:start + length] = bytes(b ^ 0x5A for b in data[start:start + length])
    dst.write_bytes(data)


def test_bad_inputs(tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video\n")
    _audio_only(tmp_path / "sound.wav")
    cases = {
        tmp_path / "missing.mkv": "no such file",
        tmp_path: "directory",
        tmp_path / "notes.mp4": "not a media file",
        tmp_path / "sound.wav": "no video stream",
    }
    for path, message in cases.items():
        with pytest.raises(InputError, match=message) as caught:
            media.open_source(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(InputError, match="no video stream"):
        media.probe(tmp_path / "sound.wav")


@pytest.mark.parametrize("ext", ["mkv", "y4m"])
def test_empty_output_reads_as_empty(tmp_path, ext):
    with media.open_writer(tmp_path / f"empty.{ext}", VideoInfo(16, 16, "yuv420p")):
        pass
    with pytest.raises(InputError, match="empty"):
        media.open_source(tmp_path / f"empty.{ext}")


def test_truncated_inputs(tmp_path):
    data = clip(ANIMATION).read_bytes()
    (tmp_path / "head.mp4").write_bytes(data[:3000])
    with pytest.raises(InputError, match="truncated"):
        media.open_source(tmp_path / "head.mp4")
    (tmp_path / "half.mp4").write_bytes(data[:40000])
    with pytest.raises(InputError, match="truncated"):
        media.open_source(tmp_path / "half.mp4")
    board = clip(BOARD).read_bytes()
    (tmp_path / "half.mkv").write_bytes(board[: len(board) // 2])
    with media.open_source(tmp_path / "half.mkv") as source:
        with pytest.raises(InputError, match=r"truncated data at frame \d+"):
            list(source.frames())


def test_damaged_ffv1_names_the_frame(tmp_path):
    info, frames = read(clip(CARPHONE), stop=20)
    write(tmp_path / "good.mkv", info, frames)
    size = (tmp_path / "good.mkv").stat().st_size
    _damaged_copy(tmp_path / "good.mkv", tmp_path / "bad.mkv", size // 2, 64)
    with media.open_source(tmp_path / "bad.mkv") as source:
        with pytest.raises(InputError, match=r"at frame (9|10|11)\b"):
            list(source.frames())
