# SPDX-License-Identifier: MIT
"""Bad input and damaged files: one clear line, exit 2, nothing half-written, no hang."""

from __future__ import annotations

import resource
import struct
import time
import zlib

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import framecodec
from framecodec import cli, report
from framecodec.errors import FramecodecError
from helpers import FAST, SAMPLE, corpus_clip, moving_pattern, write_clip


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


def audio_only(path):
    container = av.open(str(path), "w")
    stream = container.add_stream("pcm_s16le", rate=8000)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                       layout="mono")
    frame.sample_rate, frame.pts = 8000, 0
    container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()


def zero_frames(path):
    container = av.open(str(path), "w")
    stream = container.add_stream("ffv1", rate=25)
    stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
    container.start_encoding()
    container.close()


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    path = tmp_path_factory.mktemp("safety") / "s.fcv"
    framecodec.encode(SAMPLE, path, settings=FAST, frames=(0, 4), group_size=2)
    return path.read_bytes()


def test_bad_media_inputs(tmp_path, capsys):
    (tmp_path / "text.mp4").write_text("hello\n" * 50)
    audio_only(tmp_path / "sound.wav")
    zero_frames(tmp_path / "empty.mkv")
    anim = corpus_clip("animation_wannaworktogether_480x352.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(anim[: len(anim) // 3])
    cases = {
        tmp_path / "missing.mp4": "no such file",
        tmp_path: "directory",
        tmp_path / "text.mp4": "not a media file",
        tmp_path / "sound.wav": "no video stream",
        tmp_path / "empty.mkv": "empty",
        tmp_path / "cut.mp4": "truncated",
    }
    for path, message in cases.items():
        out = tmp_path / "out.fcv"
        code, err = run(capsys, "encode", path, "-o", out)
        assert code == 2 and message in err and one_line(err), (path, err)
        assert not out.exists()
    assert not list(tmp_path.glob(".*part*"))


def _head(coded: bytes, patch) -> bytes:
    length = struct.unpack_from("<I", coded, 12)[0]
    payload = bytearray(coded[16:16 + length])
    patch(payload)
    crc = zlib.crc32(bytes(payload), zlib.crc32(b"HEAD")) & 0xFFFFFFFF
    return coded[:16] + bytes(payload) + struct.pack("<I", crc) + coded[20 + length:]


def test_bad_fcv_inputs(tmp_path, capsys, coded):
    files = {
        "newer.fcv": (_head(coded, lambda p: struct.pack_into("<H", p, 0, 7)), "newer"),
        "v1.fcv": (_head(coded, lambda p: struct.pack_into("<HH", p, 0, 1, 0)),
                   "version 1.0 comes from a development build"),
        "huge.fcv": (_head(coded, lambda p: struct.pack_into("<II", p, 4, 100000, 100000)),
                     "100000x100000"),
        "format.fcv": (_head(coded, lambda p: struct.pack_into("<B", p, 12, 250)),
                       "pixel format"),
        "cut.fcv": (coded[: len(coded) // 2], "truncated"),
        "foreign.fcv": (b"GIF89a" + bytes(200), "not a .fcv file"),
    }
    for name, (data, message) in files.items():
        (tmp_path / name).write_bytes(data)
        code, err = run(capsys, "decode", tmp_path / name, "-o", tmp_path / "o.mkv")
        assert code == 2 and message in err and one_line(err), (name, err)
        assert not (tmp_path / "o.mkv").exists()


def test_interrupted_encode_leaves_nothing(tmp_path):
    out = tmp_path / "i.fcv"

    def interrupt(frames, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        framecodec.encode(SAMPLE, out, settings=FAST, frames=(0, 4), group_size=2,
                          on_group=interrupt)
    # nothing under the output's name; the finished group waits in the journal for --resume
    assert [p.name for p in tmp_path.iterdir()] == ["i.fcv.journal"]


def test_failed_decode_keeps_the_old_output(tmp_path, coded):
    (tmp_path / "bad.fcv").write_bytes(coded[: len(coded) - 200])
    (tmp_path / "old.mkv").write_bytes(b"precious")
    with pytest.raises(FramecodecError):
        framecodec.decode(tmp_path / "bad.fcv", tmp_path / "old.mkv", overwrite=True)
    assert (tmp_path / "old.mkv").read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.fcv", "old.mkv"]


# ---------------------------------------------------------------- fuzzing

_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 30), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 30), st.just(0)),
    st.tuples(st.just("length"), st.integers(0, 1 << 30), st.integers(0, 0xFFFFFFFF)),
    st.tuples(st.just("bytes"), st.integers(0, 1 << 30), st.integers(0, 0xFFFFFFFF)),
    st.tuples(st.just("payload"), st.integers(0, 1 << 30), st.integers(0, 255)),
)


def _chunks(data: bytes) -> list[tuple[int, int]]:
    """(offset, payload length) of each chunk that still parses as one."""
    out, at = [], 8
    while at + 12 <= len(data):
        (length,) = struct.unpack_from("<I", data, at + 4)
        if at + 12 + length > len(data):
            break
        out.append((at, length))
        at += 12 + length
    return out


def _mutate(data: bytes, mutations) -> bytes:
    out = bytearray(data)
    for kind, where, value in mutations:
        if not out:
            break
        at = where % len(out)
        chunks = _chunks(bytes(out))
        if kind == "flip":
            out[at] ^= 1 << value
        elif kind == "cut":
            del out[at:]
        elif kind == "length" and chunks:  # a chunk's length field says something else
            offset, _ = chunks[where % len(chunks)]
            out[offset + 4:offset + 8] = struct.pack("<I", value)
        elif kind == "payload" and chunks:  # a byte of a payload, its CRC made to match
            offset, length = chunks[where % len(chunks)]
            if length:
                out[offset + 8 + value % length] ^= 1 + (where >> 8) % 255
                body = bytes(out[offset:offset + 8 + length])
                crc = zlib.crc32(body[8:], zlib.crc32(body[:4])) & 0xFFFFFFFF
                out[offset + 8 + length:offset + 12 + length] = struct.pack("<I", crc)
        else:  # any four bytes
            out[at:at + 4] = struct.pack("<I", value)[: len(out) - at]
    return bytes(out)


def test_mutations_do_what_they_say(tmp_path, coded):
    chunks = _chunks(coded)
    assert len(chunks) > 4 and chunks[-1][0] + 12 + chunks[-1][1] == len(coded)
    offset, _ = chunks[1]
    lengthened = _mutate(coded, [("length", 1, 7)])
    assert struct.unpack_from("<I", lengthened, offset + 4)[0] == 7
    changed = _mutate(coded, [("payload", 1, 3)])
    assert changed != coded and len(changed) == len(coded)
    assert len(_chunks(changed)) == len(chunks)  # the structure still parses, CRCs agree
    (tmp_path / "p.fcv").write_bytes(changed)
    with framecodec.open(tmp_path / "p.fcv") as reader:
        assert len(list(reader.iter_chunks())) == len(chunks) - 1  # every CRC holds


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(_mutation, min_size=1, max_size=3))
def test_fuzzed_files_decode_or_fail_cleanly(tmp_path, coded, mutations):
    """Any mutation of a valid file decodes, or raises the project's own error,
    quickly and without a large allocation."""
    path = tmp_path / "fuzz.fcv"
    path.write_bytes(_mutate(coded, mutations))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        for frame in framecodec.decode_frames(path):
            assert frame.planes[0].shape == (144, 176)
        report.verify(path)
    except FramecodecError:
        pass
    assert time.perf_counter() - started < 20
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 300
