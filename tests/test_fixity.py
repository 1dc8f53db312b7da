# SPDX-License-Identifier: MIT
"""Frame hashes: the MD5 ffmpeg's framemd5 gives each source frame, stored, listed, checked.

* every pixel format a source can decode to (test_media.py's matrix: native
  planar formats, packed RGB, nv12/nv21, pal8, yuvj): the hash framecodec makes
  from the planes alone is the one ``ffmpeg -f framemd5`` prints for the source;
* ``framecodec framemd5`` diffs clean against ffmpeg's listing, every column;
* ``verify`` without the source names the frames that do not match.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import av
import numpy as np
import pytest

import framecodec
from framecodec import cli, report
from framecodec.errors import CorruptError
from framecodec.format import fixity
from framecodec.io import media
from helpers import FAST, SAMPLE, corpus_clip, moving_pattern, write_clip

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg CLI missing")


def ffmpeg_framemd5(path: Path, *options: str) -> list[str]:
    """ffmpeg's own listing of the first video stream (no #software line: bitexact)."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", *options,
                           "-fflags", "+bitexact", "-f", "framemd5", "-"],
                          capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def hashes(lines: list[str]) -> list[str]:
    return [line.rsplit(", ", 1)[1] for line in lines if not line.startswith("#")]


def raw_clip(path: Path, av_format: str, width: int = 33, height: int = 17, count: int = 3,
             padding: int | None = None) -> Path:
    """A rawvideo .nut clip in ``av_format``; ``padding`` sets the x byte of rgb0-like
    formats (None: random like the rest)."""
    rng = np.random.default_rng(len(av_format))
    container = av.open(str(path), "w", format="nut")
    stream = container.add_stream("rawvideo", rate=25)
    stream.width, stream.height, stream.pix_fmt = width, height, av_format
    for t in range(count):
        frame = av.VideoFrame(width, height, av_format)
        for plane in frame.planes:
            np.frombuffer(plane, np.uint8)[:] = rng.integers(0, 256, plane.buffer_size)
        if padding is not None:
            at = av_format.index("0")
            rows = np.frombuffer(frame.planes[0], np.uint8).reshape(height, -1)
            rows[:, at:4 * width:4] = padding
        frame.pts = t
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return path


def pal8_png(folder: Path) -> Path:
    rng = np.random.default_rng(3)
    container = av.open(str(folder / "%02d.png"), "w", format="image2")
    stream = container.add_stream("png", rate=25)
    stream.width, stream.height, stream.pix_fmt = 33, 17, "pal8"
    for t in range(2):
        frame = av.VideoFrame(33, 17, "pal8")
        np.frombuffer(frame.planes[0], np.uint8).reshape(17, -1)[:, :33] = \
            rng.integers(0, 6, (17, 33))
        palette = np.zeros((256, 4), np.uint8)
        palette[:6] = rng.integers(0, 256, (6, 4))
        palette[:6, 3] = 255
        frame.planes[1].update(palette)
        frame.pts = t
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return folder / "%02d.png"


_PAL8_AS = "rgb24"  # what ffmpeg converts pal8 to exactly (its gbrp goes through YUV)

# test_media.py's matrix: formats written as FFV1 (gbrp/gbrap come back as bgr0/bgra)
SYNTHETIC = [("gray", 32, 16), ("yuv422p", 32, 16), ("yuv444p", 32, 16), ("gbrp", 32, 16),
             ("gbrap", 20, 10), ("yuv420p10le", 32, 16), ("gray16le", 20, 10),
             ("gbrp12le", 20, 10), ("yuv410p", 33, 17), ("yuva420p", 20, 10),
             ("yuv420p", 33, 17), ("yuv422p", 33, 17), ("gbrp", 33, 17)]
PACKED = ["rgb24", "bgr24", "rgba", "bgra", "argb", "abgr", "rgb0", "bgr0", "0rgb", "0bgr",
          "nv12", "nv21"]


def _matrix_source(tmp_path: Path, case: str) -> Path:
    if case in PACKED:
        return raw_clip(tmp_path / "src.nut", case, padding=0 if "0" in case else None)
    if case == "pal8":
        return pal8_png(tmp_path)
    pix_fmt, width, height = next(c for c in SYNTHETIC if f"{c[0]}-{c[1]}" == case)
    info, frames = moving_pattern(pix_fmt, width, height, count=3)
    return write_clip(tmp_path / "src.mkv", info, frames)


@pytest.mark.parametrize("case", [f"{p}-{w}" for p, w, _ in SYNTHETIC] + PACKED + ["pal8"])
def test_hash_from_planes_is_ffmpegs(tmp_path, case):
    """For every decoded format: the MD5 of the bytes FFmpeg decoded, and the MD5
    framecodec makes from the planes alone in the file's layout, are ffmpeg's.
    pal8 keeps no indices: its frames are hashed as rgb24, as ffmpeg -pix_fmt rgb24 does."""
    src = _matrix_source(tmp_path, case)
    with media.open_source(src) as source:
        info, frames = source.info, list(source.frames())
    layout = fixity.layout_for(info.source_format, info.format)
    want = hashes(ffmpeg_framemd5(src))
    assert [f.md5.hex() for f in frames] == want
    ours = [fixity.frame_md5(f.planes, info.format, layout).hex() for f in frames]
    if case == "pal8":
        assert fixity.name_of(layout, info.format) == "rgb24" == _PAL8_AS
        assert ours == hashes(ffmpeg_framemd5(src, "-pix_fmt", "rgb24")) != want
    else:
        assert fixity.name_of(layout, info.format) == info.source_format
        assert ours == want


def _framemd5(capsys, path: Path, *options) -> tuple[list[str], str]:
    assert cli.main(["framemd5", str(path), *options]) == 0
    out, err = capsys.readouterr()
    return out.splitlines(), err


@pytest.mark.parametrize("name, frames", [
    ("sample", 5), ("screen_gnome-message-board_274x268.mkv", 20),
    ("animation_wannaworktogether_480x352.mp4", 3),
])
def test_framemd5_diffs_clean_against_ffmpeg(tmp_path, capsys, name, frames):
    """Every line: header, timestamps (the board clip is variable-rate: frame 17 lasts
    0.2 s), durations, sizes and hashes; an mp4 with audio compared on its video."""
    src = SAMPLE if name == "sample" else corpus_clip(name)
    out = tmp_path / "c.fcv"
    framecodec.encode(src, out, settings=FAST, frames=(0, frames), audio=False)
    lines, err = _framemd5(capsys, out)
    assert lines == ffmpeg_framemd5(src, "-frames:v", str(frames)) and err == ""
    decoded, _ = _framemd5(capsys, out, "--decode")
    assert decoded == lines


def test_framemd5_of_packed_and_palette_sources(tmp_path, capsys):
    src = raw_clip(tmp_path / "bgr0.nut", "bgr0", padding=0)
    framecodec.encode(src, tmp_path / "p.fcv", settings=FAST)
    lines, err = _framemd5(capsys, tmp_path / "p.fcv")
    assert lines == ffmpeg_framemd5(src) and err == ""
    (tmp_path / "pal").mkdir()
    png = pal8_png(tmp_path / "pal")
    framecodec.encode(png, tmp_path / "pal.fcv", settings=FAST)
    lines, err = _framemd5(capsys, tmp_path / "pal.fcv")
    assert lines == ffmpeg_framemd5(png, "-pix_fmt", _PAL8_AS)
    assert "source decoded as pal8" in err and "-pix_fmt rgb24" in err


def test_padding_framecodec_does_not_keep_is_reported(tmp_path, capsys):
    """A bgr0 source whose padding bytes are not zero: the stored MD5 covers the samples
    with zero padding, the summary says so, and the file still verifies."""
    src = raw_clip(tmp_path / "x.nut", "bgr0", padding=7)
    assert cli.main(["encode", str(src), "-o", str(tmp_path / "x.fcv")]) == 0
    assert "non-zero padding bytes" in capsys.readouterr().out
    lines, _ = _framemd5(capsys, tmp_path / "x.fcv")
    assert hashes(lines) != hashes(ffmpeg_framemd5(src))
    assert hashes(lines) == hashes(ffmpeg_framemd5(raw_clip(tmp_path / "z.nut", "bgr0",
                                                            padding=0)))
    assert report.verify(tmp_path / "x.fcv").sound


def test_bounded_file_stores_the_decoded_frames_hashes(tmp_path, capsys):
    info, frames = moving_pattern("yuv420p", 32, 16, count=3)
    src = write_clip(tmp_path / "s.mkv", info, frames)
    out = tmp_path / "b.fcv"
    framecodec.encode(src, out, settings=FAST, max_error=3)
    with framecodec.open(out) as reader:
        assert reader.header.fixity_kind == fixity.FIXITY_DECODED
    lines, err = _framemd5(capsys, out)
    assert "coded with a bound (max error 3)" in err
    decoded = [fixity.frame_md5(f.planes, info.format, fixity.PLANAR).hex()
               for f in framecodec.decode_frames(out)]
    assert hashes(lines) == decoded and decoded != hashes(ffmpeg_framemd5(src))


# ---------------------------------------------------------------- verify without the source


def _frame_chunk(data: bytes, frame: int) -> tuple[int, int]:
    """Offset and payload length of frame chunk ``frame`` (counting FRAM chunks)."""
    pos, n = 8, -1
    while True:
        tag, length = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        n += tag == b"FRAM"
        if tag == b"FRAM" and n == frame:
            return pos, length
        pos += 12 + length


def _patched(data: bytes, frame: int, at: int, value: int) -> bytes:
    """Frame chunk ``frame`` with payload byte ``at`` (negative: from the end) set to
    ``value`` and its CRC made to match, so only the MD5 can tell."""
    out = bytearray(data)
    pos, length = _frame_chunk(data, frame)
    payload = out[pos + 8:pos + 8 + length]
    payload[at] = value
    out[pos + 8:pos + 8 + length] = payload
    struct.pack_into("<I", out, pos + 8 + length, zlib.crc32(bytes(payload), zlib.crc32(b"FRAM")))
    return bytes(out)


def data_byte(data: bytes, frame: int, at: int) -> int:
    """Payload byte ``at`` of frame chunk ``frame`` (as ``_patched`` counts them)."""
    pos, length = _frame_chunk(data, frame)
    return data[pos + 8:pos + 8 + length][at]


@pytest.fixture(scope="module")
def hashed(tmp_path_factory):
    path = tmp_path_factory.mktemp("fixity") / "h.fcv"
    framecodec.encode(SAMPLE, path, settings=FAST, frames=(0, 6), group_size=3)
    return path


def test_verify_without_source_checks_every_frame(capsys, hashed):
    assert cli.main(["verify", str(hashed)]) == 0
    out = capsys.readouterr().out
    assert "MD5 of the source frames, as yuv420p: 6/6 decoded frames match" in out


@pytest.mark.parametrize("where", ["md5", "slice"])
def test_verify_names_frames_that_differ(tmp_path, capsys, hashed, where):
    """A changed MD5 field, or a changed slice byte (CRC recomputed, so only the hash
    can see it): verify names the frame; decoding refuses it."""
    bad = tmp_path / "bad.fcv"
    data = hashed.read_bytes()
    if where == "md5":
        with framecodec.open(hashed) as reader:
            _, records = reader.read_group(1)
            frame4 = [r for r in records if r.index == 4][0]
        md5_at = 5  # after group, frame, duration (a byte each) and pts (133 ms: 2 bytes)
        data = _patched(data, 4, md5_at, frame4.md5[0] ^ 0xFF)
    else:
        # late in frame 4's last slice, the first byte whose change decodes to other samples
        # rather than running the slice out of data (which the decoder reports as such)
        for at in range(-12, -60, -1):
            candidate = _patched(data, 4, at, data_byte(data, 4, at) ^ 0x55)
            bad.write_bytes(candidate)
            with pytest.raises(CorruptError) as error:
                list(framecodec.decode_frames(bad))
            if "stored MD5" in str(error.value):
                data = candidate
                break
        else:
            raise AssertionError("no byte of frame 4 decodes to other samples")
    bad.write_bytes(data)
    if where == "md5":  # the MD5's first byte is what changed
        with framecodec.open(bad) as reader:
            _, records = reader.read_group(1)
            changed = [r for r in records if r.index == 4][0]
        assert changed.md5[1:] == frame4.md5[1:] and changed.md5[0] == frame4.md5[0] ^ 0xFF
        assert changed.payload == frame4.payload
    assert cli.main(["verify", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "frame 4 (group 1) does not match its stored MD5" in out and "NOT sound" in out
    assert "frame 3 " not in out
    for threads in (1, 2):  # on two threads a frame's MD5 is checked while the next decodes
        got = []
        with pytest.raises(CorruptError, match=r"stored MD5 .*group 1, frame 4"):
            for frame in framecodec.decode_frames(bad, threads=threads):
                got.append(frame)
        assert len(got) == 4  # every frame before the damaged one, then the error
        assert len(list(framecodec.decode_frames(bad, frames=(0, 4), threads=threads))) == 4


def test_file_without_hashes_verifies_by_crc(tmp_path, capsys):
    out = tmp_path / "n.fcv"
    framecodec.encode(SAMPLE, out, settings=FAST.replace(fixity=False), frames=(0, 2))
    assert cli.main(["verify", str(out)]) == 0
    said = capsys.readouterr().out
    assert "no frame hashes: checked every chunk's CRC and decoded every frame" in said
    lines, err = _framemd5(capsys, out)
    assert "stores no frame hashes" in err
    assert hashes(lines) == hashes(ffmpeg_framemd5(SAMPLE, "-frames:v", "2"))


def test_encode_summary_names_the_input(tmp_path, capsys):
    anim = corpus_clip("animation_wannaworktogether_480x352.mp4")
    assert cli.main(["encode", str(anim), "-o", str(tmp_path / "a.fcv"), "--frames", "0:2",
                     "--preset", "fast"]) == 0
    out = capsys.readouterr().out
    assert f"input {anim.name}: h264, {anim.stat().st_size:,} bytes" in out
    assert "a part of the input was encoded" in out
    assert "note: h264 is a lossy codec; the .fcv keeps its decoded frames exactly" in out


def test_framemd5_to_a_file(tmp_path, capsys, hashed):
    out = tmp_path / "list.framemd5"
    assert cli.main(["framemd5", str(hashed), "-o", str(out)]) == 0
    lines, _ = _framemd5(capsys, hashed)
    assert out.read_text().splitlines() == lines and len(lines) == 9 + 6
    assert cli.main(["framemd5", str(hashed), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
