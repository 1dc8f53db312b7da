# SPDX-License-Identifier: MIT
"""docs/FORMAT.md against the code and the bytes.

(a) tools/dump_fcv.py, written from the spec with ``struct`` alone, must read a
file ``framecodec.encode`` wrote the way ``FcvReader`` and ``GroupHeader`` do,
with and without palettes.
(b) The constants, tables and quoted values of FORMAT.md must be the code's.
The spec marks each machine-checked table with ``<!-- fcv-test: NAME -->``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import re
import struct
import subprocess
import sys
import zlib
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

import framecodec
from framecodec.encoder.settings import EncodeSettings
from framecodec.format import dictionary as dic
from framecodec.format.group import PULL_FLAG, GroupHeader
from framecodec.format.container import FORMAT_VERSION, FcvReader, encode_stream_header
from framecodec.errors import CorruptError
from framecodec.frames import ColorInfo, VideoInfo
from framecodec.pixfmt import PIXEL_FORMATS, by_name
from helpers import FAST, ROOT, SAMPLE, assert_frames_equal, corpus_clip, write_clip
from test_palette import screen_clip

SPEC = ROOT / "docs" / "FORMAT.md"
DUMP = ROOT / "tools" / "dump_fcv.py"
SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "i8": 1, "i16": 2, "i32": 4, "i64": 8}
CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "i8": "b", "i16": "h", "i32": "i",
         "i64": "q"}


# ------------------------------------------------------------------ the spec's tables


@pytest.fixture(scope="module")
def spec() -> str:
    return SPEC.read_text(encoding="utf-8")


def _cells(line: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [p.strip().replace("\\|", "|") for p in parts]


def table(text: str, name: str) -> list[dict[str, str]]:
    """The markdown table right after ``<!-- fcv-test: name -->``, as dicts by header."""
    lines = text.splitlines()
    marker = f"<!-- fcv-test: {name} -->"
    assert marker in lines, f"FORMAT.md lacks the table marker {marker}"
    i = lines.index(marker) + 1
    header = _cells(lines[i])
    assert re.fullmatch(r"\|[\s\-|:]+\|", lines[i + 1].strip()), f"{name}: no separator row"
    rows = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(header), f"{name}: malformed row {line!r}"
        rows.append(dict(zip(header, cells)))
    assert rows, f"{name}: empty table"
    return rows


def _unquote(cell: str) -> str:
    return cell.strip().strip("`").strip()


def _value(cell: str):
    """``8B 46 ..`` hex bytes, ``[a, b, ..]`` a tuple of integers, or an integer
    (decimal, 0x.., commas allowed)."""
    text = _unquote(cell)
    if re.fullmatch(r"(?:[0-9A-Fa-f]{2} )+[0-9A-Fa-f]{2}", text):
        return bytes.fromhex(text)
    if text.startswith("[") and text.endswith("]"):
        return tuple(int(v, 0) for v in text[1:-1].split(","))
    return int(text.replace(",", ""), 0)


def _code_value(obj):
    """A code constant in the form ``_value`` gives: sequences (arrays) as tuples."""
    if isinstance(obj, (tuple, list, np.ndarray)):
        return tuple(int(v) for v in obj)
    return obj


def _resolve(path: str):
    """``pkg.module.NAME.attr[0]``: import the longest module prefix, then getattr."""
    path, index = re.fullmatch(r"([\w.]+)(?:\[(\d+)\])?", path).groups()
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj if index is None else obj[int(index)]
    raise AssertionError(f"cannot resolve {path}")


@pytest.fixture(scope="module")
def constants(spec) -> dict[str, int | bytes]:
    return {row["name"]: _value(row["value"]) for row in table(spec, "constants")}


def _number(token: str) -> int:
    return 1 << int(token[2:]) if token.startswith("2^") else int(token)


# ------------------------------------------------------------------ (b) constants


def test_constants_table_matches_code(spec):
    rows = table(spec, "constants")
    for row in rows:
        want = _value(row["value"])
        got = _code_value(_resolve(_unquote(row["code"])))
        assert got == want, f"FORMAT.md says {row['name']} = {want!r}, code has {got!r}"


def test_constants_table_is_complete(spec):
    paths = {_unquote(row["code"]) for row in table(spec, "constants")}
    required = {
        "framecodec.format.container.SIGNATURE", "framecodec.kernels.rangecoder.PROB_BITS",
        "framecodec.kernels.rangecoder.FAST_SHIFT", "framecodec.kernels.rangecoder.SLOW_SHIFT",
        "framecodec.kernels.symbols.SET_SIZE", "framecodec.kernels.mlp.COEF_FRAC",
        "framecodec.kernels.mlp.HIDDEN_MAX", "framecodec.kernels.mlp.WEIGHT_MAX",
        "framecodec.kernels.mlp.OUT_WEIGHT_MAX", "framecodec.kernels.mlp.BIAS_MAX",
        "framecodec.kernels.motion.MV_MAX", "framecodec.kernels.motion.MAX_REFS",
        "framecodec.kernels.framecoder.MOTION_CONTEXTS",
        "framecodec.kernels.framecoder.SAMPLE_CONTEXTS",
        "framecodec.kernels.framecoder.ACTIVITY_LEVELS",
        "framecodec.format.dictionary.IDENTITY", "framecodec.format.dictionary.PALETTES",
        "framecodec.format.dictionary.MAX_ENTRIES", "framecodec.format.dictionary.N_PATTERN_BITS",
        "framecodec.format.dictionary.LEVEL_THRESHOLDS", "framecodec.kernels.palette.N_CAND",
        "framecodec.kernels.palette.N_PATTERNS", "framecodec.kernels.palette.N_LEVELS",
        "framecodec.kernels.palette.FLAG_CONTEXTS", "framecodec.kernels.palette.ESCAPE_PREFIX",
        "framecodec.kernels.palette.ESCAPE_BITS", "framecodec.kernels.palette.PALETTE_CONTEXTS",
        "framecodec.kernels.palette.RECENT_SIZE", "framecodec.kernels.palette.RECENT_BITS",
        "framecodec.kernels.palette.RECENT_FLAG", "framecodec.kernels.palette.RECENT_RANK",
    }
    required |= {f"framecodec.format.container.LIMITS.{f.name}"
                 for f in dataclasses.fields(framecodec.format.container.LIMITS)}
    assert not required - paths, f"constants missing from FORMAT.md: {required - paths}"


def test_quoted_constants_match_table(spec, constants):
    """Values quoted in prose (`NAME` = 16) and pseudocode (``... >> 4  # FAST_SHIFT``)."""
    names = set(constants)
    checked = 0
    for name, value in re.findall(r"`?\b([A-Z][A-Z0-9_]{2,})\b`?\s*=\s*(2\^\d+|\d+)\b", spec):
        if name in names:
            assert _number(value) == constants[name], f"FORMAT.md quotes {name} = {value}"
            checked += 1
    for line in spec.splitlines():
        m = re.search(r"#\s*([A-Z][A-Z0-9_]{2,})\s*$", line)
        if m and m.group(1) in names:
            numbers = re.findall(r"2\^\d+|\b\d+\b", line[:m.start()])
            assert numbers, f"no value before the comment in {line!r}"
            assert _number(numbers[-1]) == constants[m.group(1)], f"FORMAT.md: {line.strip()}"
            checked += 1
    assert checked >= 10


def test_chunk_tags_match_container(spec):
    documented = {_unquote(row["tag"]) for row in table(spec, "chunk-tags")}
    source = (ROOT / "framecodec" / "format" / "container.py").read_text()
    assert documented == set(re.findall(r'b"([A-Za-z]{4})"', source))


def test_pixel_format_table_matches_code(spec):
    rows = table(spec, "pixel-formats")
    documented = {int(r["code"]): (r["name"], r["family"], int(r["planes"]), int(r["bd"]),
                                   int(r["cw"]), int(r["ch"])) for r in rows}
    code = {f.code: (f.name, f.family, f.planes, f.bit_depth, f.log2_chroma_w,
                     f.log2_chroma_h) for f in PIXEL_FORMATS}
    assert documented == code


def test_plane_set_table_matches_code(spec):
    """4.2: every format's plane sets and masks, as ``dictionary.plane_sets`` makes them."""
    rows = table(spec, "plane-sets")
    seen = set()
    for row in rows:
        sets = [tuple(int(v) for v in re.findall(r"\d+", s))
                for s in re.findall(r"\{[^}]*\}", row["plane sets"])]
        masks = [int(v) for v in row["masks"].split(",")]
        assert masks == [sum(1 << p for p in s) for s in sets], row
        for name in (n.strip() for n in row["formats"].split(",")):
            assert name not in seen, f"{name} listed twice"
            seen.add(name)
            assert dic.plane_sets(by_name(name)) == sets, name
    assert seen == {f.name for f in PIXEL_FORMATS}


def test_dictionary_ranges_are_the_readers(spec):
    """4.2: mode/count, masks (exactly one plane set, no overlap), K 1..65536, trailing
    bytes; the identity record is 3 bytes and the network record 23 + 26 H bytes."""
    fmt = by_name("yuva420p")
    assert dic.ColorDictionary.identity(4).to_bytes() == bytes([0, 4, 0])
    assert "`23 + 26 H`" in spec
    luma = dic.Palette((0,), np.array([[3], [7]], np.uint16))
    chroma = dic.Palette((1, 2), np.array([[1, 2], [1, 9], [40, 3]], np.uint16))
    alpha = dic.Palette((3,), np.array([[0], [255]], np.uint16))
    for pal in (luma, chroma, alpha):
        hidden = pal.net.w1.shape[1]
        assert len(pal.net.to_bytes()) == 23 + 26 * hidden
    good = dic.ColorDictionary([chroma, alpha, luma], 4).to_bytes()  # any order
    back = dic.ColorDictionary.from_bytes(good, fmt)
    assert [p.planes for p in back.palettes] == [(1, 2), (3,), (0,)]

    def refused(data: bytes) -> None:
        with pytest.raises(CorruptError):
            dic.ColorDictionary.from_bytes(data, fmt)

    one = dic.ColorDictionary([luma], 4).to_bytes()
    mask_at, k_at = 3, 4
    for mask in (0, 0b0011, 0b0010, 0b0100, 0b1001, 0b1111, 0b10000):  # not one plane set
        patched = bytearray(one)
        patched[mask_at] = mask
        refused(bytes(patched))
    refused(dic.ColorDictionary([luma, luma], 4).to_bytes())  # a set twice
    for k in (0, 65537):
        patched = bytearray(one)
        patched[k_at:k_at + 4] = struct.pack("<I", k)
        refused(bytes(patched))
    refused(one + b"\0")                               # bytes after the last palette
    refused(bytes([2]) + one[1:])                      # mode 2 is reserved
    refused(bytes([0]) + one[1:])                      # identity mode with a palette
    refused(bytes([1, 4, 0]))                          # palettes mode without one
    refused(bytes([0, 3, 0]))                          # plane count is the format's
    bad_entries = dic.ColorDictionary([dic.Palette((0,), np.array([[7], [3]], np.uint16))], 4)
    refused(bad_entries.to_bytes())                    # not increasing
    # K = 65536 (a 16-bit plane's every value) is accepted
    gray16 = by_name("gray16le")
    full = dic.ColorDictionary([dic.Palette((0,), np.arange(65536, dtype=np.uint16)[:, None])], 1)
    assert len(dic.ColorDictionary.from_bytes(full.to_bytes(), gray16)) == 65536
    too_big = dic.ColorDictionary([dic.Palette((0,), np.array([[0], [256]], np.uint16))], 1)
    with pytest.raises(CorruptError):                  # an entry beyond maxval
        dic.ColorDictionary.from_bytes(too_big.to_bytes(), by_name("gray"))


def test_head_field_table_matches_writer(spec):
    rows = table(spec, "head-fields")
    info = VideoInfo(1234, 567, "yuv422p10le", Fraction(30000, 1001), Fraction(1, 90000), None,
                     ColorInfo(1, 5, 6, 7), Fraction(16, 15), 270, source_format="p210le",
                     start_time=-1500)
    payload = encode_stream_header(info, 4321, 12, 3, 2, 0)
    offset, values = 0, {}
    for row in rows:
        kind = _unquote(row["type"])
        assert int(row["offset"]) == offset, f"HEAD field {row['field']} offset"
        if kind == "bytes[L]":  # its length is the field before
            values[row["field"]] = payload[offset:offset + values["source_format_length"]]
            offset += values["source_format_length"]
            continue
        (values[row["field"]],) = struct.unpack_from("<" + CODES[kind], payload, offset)
        offset += SIZES[kind]
    assert offset == len(payload)
    assert values == {
        "version_major": 2, "version_minor": FORMAT_VERSION[1], "width": 1234, "height": 567,
        "pix_fmt": 24, "bit_depth": 10, "frame_rate_num": 30000, "frame_rate_den": 1001,
        "time_base_num": 1, "time_base_den": 90000, "frame_count": 4321, "group_count": 12,
        "max_error": 3, "color_range": 1, "color_matrix": 5, "color_primaries": 6,
        "color_transfer": 7, "sar_num": 16, "sar_den": 15, "rotation": 270, "fixity": 2,
        "hash_layout": 0, "start_time": -1500, "source_format_length": 6,
        "source_format": b"p210le",
    }


def test_hash_layout_table_matches_code(spec):
    """2.7: each layout's code, name, the formats it fits, and its bytes for a frame."""
    from framecodec.format import fixity

    rows = table(spec, "hash-layouts")
    assert {int(r["code"]) for r in rows} == set(fixity.LAYOUTS)
    rng = np.random.default_rng(3)
    for row in rows:
        code, fits = int(row["code"]), row["stream formats"]
        assert fixity.LAYOUTS[code][0] == ("" if code == 0 else row["layout"])
        allowed = {f.name for f in PIXEL_FORMATS} if fits == "any" else {fits}
        assert {f.name for f in PIXEL_FORMATS if fixity.layout_fits(code, f)} == allowed
        fmt = by_name("yuv420p10le" if fits == "any" else fits)
        planes = [rng.integers(0, fmt.max_value + 1, shape).astype(fmt.dtype)
                  for shape in fmt.plane_shapes(5, 3)]
        want = bytearray()  # the bytes the row describes, built by hand
        if code == 0:
            for plane in planes:
                for v in plane.ravel():
                    want += int(v).to_bytes(2, "little")
        elif fits == "yuv420p":
            want += bytes(planes[0].ravel().tolist())
            first, second = (1, 2) if row["layout"] == "nv12" else (2, 1)
            for a, b in zip(planes[first].ravel(), planes[second].ravel()):
                want += bytes([int(a), int(b)])
        else:
            sample = {"G": planes[0], "B": planes[1], "R": planes[2]}
            if len(planes) == 4:
                sample["A"] = planes[3]
            order = row["layout"].upper().removesuffix("24")  # rgb24: R, G, B
            for y in range(3):
                for x in range(5):
                    want += bytes(0 if c == "0" else int(sample[c][y, x]) for c in order)
        assert fixity.layout_size(code, fmt, 5, 3) == len(want), row["layout"]
        assert fixity.frame_md5(planes, fmt, code) == hashlib.md5(bytes(want)).digest(), \
            row["layout"]


def test_frame_prefix_table_matches_writer(spec, coded):
    """2.5: the FRAM prefix fields in their order and types, read from a real chunk."""
    from framecodec.format.bitstream import ByteReader

    rows = table(spec, "frame-prefix")
    data = coded.read_bytes()
    with FcvReader(coded) as reader:
        _, frames = reader.read_group(1)
        record = next(frames)
        offset = reader.groups[1].offset
    at = offset + 12 + struct.unpack_from("<I", data, offset + 4)[0]  # the chunk after GRUP
    assert data[at:at + 4] == b"FRAM"
    r = ByteReader(data[at + 8:at + 8 + struct.unpack_from("<I", data, at + 4)[0]])
    values = {}
    for row in rows:
        kind = _unquote(row["type"])
        values[row["field"]] = r.raw(16) if kind == "bytes[16]" else getattr(r, kind)()
    assert values == {"group": 1, "frame": record.index, "pts": record.pts,
                      "duration": record.duration, "md5": record.md5}
    assert record.duration > 0 and r.remaining == len(record.payload)


# ------------------------------------------------------------------ (a) a real file


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    path = tmp_path_factory.mktemp("fmt") / "s.fcv"
    framecodec.encode(SAMPLE, path, settings=FAST, frames=(0, 4), group_size=2)
    return path


@pytest.fixture(scope="module")
def dumped(coded) -> dict:
    run = subprocess.run([sys.executable, str(DUMP), str(coded), "--json"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize("path", sorted((ROOT / "tests" / "golden").glob("**/*.fcv")),
                         ids=lambda p: p.name)
def test_dump_reads_every_golden_and_earlier_version_file_cleanly(path):
    """The spec-only reader agrees that every committed vector, of every version, is valid."""
    run = subprocess.run([sys.executable, str(DUMP), str(path), "--json"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    dumped = json.loads(run.stdout)
    if path.name == "gbrp-differences.fcv":
        assert [g["dictionary"]["mode"] for g in dumped["groups"]] == ["differences"]


def test_dump_tool_is_independent():
    source = DUMP.read_text()
    assert not re.search(r"^\s*(from|import)\s+framecodec", source, re.M)


def test_dump_text_output(coded):
    run = subprocess.run([sys.executable, str(DUMP), str(coded)], capture_output=True,
                         text=True, check=True)
    assert "signature ok" in run.stdout and "problem" not in run.stdout
    assert run.stdout.count(" FRAM ") == 4 and run.stdout.count(" GRUP ") == 2


def test_dump_agrees_with_reader(coded, dumped, spec):
    _check_dump(coded, dumped, spec, groups=2, frames=4)
    assert all(not g["dictionary"]["palettes"] for g in dumped["groups"])


def _check_dump(coded, dumped, spec, groups: int, frames: int) -> None:
    """The dump of ``coded`` says what FcvReader and GroupHeader read."""
    assert dumped["signature_ok"] and not dumped["problems"]
    assert all(c["crc_ok"] for c in dumped["chunks"])
    tags = [c["tag"] for c in dumped["chunks"]]
    assert tags[0] == "HEAD" and tags[-2:] == ["INDX", "TAIL"]
    assert set(tags) <= {_unquote(r["tag"]) for r in table(spec, "chunk-tags")}
    with FcvReader(coded) as reader:
        assert not reader.damaged_index
        n_groups = groups
        groups = dumped["groups"]
        assert len(groups) == len(reader.groups) == n_groups
        assert sum(len(g["frames"]) for g in groups) == reader.frame_count == frames
        assert tags.count("FRAM") == reader.frame_count
        assert [g["offset"] for g in groups] == [e.offset for e in reader.groups]
        assert [e["offset"] for e in dumped["index"]["entries"]] == \
            [e.offset for e in reader.groups]
        assert dumped["index"]["audio_offset"] == reader.audio_offset == 0
        assert dumped["audio"] is None and reader.audio() is None
        assert [(g["first_frame"], len(g["frames"])) for g in groups] == \
            [(e.first_frame, e.frame_count) for e in reader.groups]
        head, info = dumped["head"], reader.info
        assert (head["width"], head["height"], head["pix_fmt_name"]) == \
            (info.width, info.height, info.pix_fmt)
        assert head["frame_count"] == info.frame_count and head["group_count"] == n_groups
        assert (head["fixity"], head["hash_layout"], head["source_format"],
                head["start_time"]) == (reader.header.fixity_kind, reader.header.hash_layout,
                                        info.source_format, info.start_time)
        assert head["fixity"] == 1 and not head["problems"]
        assert Fraction(head["frame_rate_num"], head["frame_rate_den"]) == info.frame_rate
        assert head["plane_sizes"] == [[w, h] for h, w in info.plane_shapes()]
        for g, group in enumerate(groups):
            header_bytes, frames = reader.read_group(g)
            header = GroupHeader.from_bytes(header_bytes, info, g)
            assert (group["first_frame"], group["frame_count"], group["max_error"],
                    group["log2_block"], group["slices"], group["refs"], group["reason"]) == \
                (header.first_frame, header.frame_count, header.max_error, header.log2_block,
                 header.slices, header.refs, header.reason)
            assert group["slice_starts"] == list(header.slice_starts)
            assert group["mixing"] == header.mixing
            dictionary = group["dictionary"]
            assert dictionary["entries"] == len(header.dictionary)
            assert dictionary["trailing_bytes"] == 0 and not dictionary["problems"]
            assert len(dictionary["palettes"]) == len(header.dictionary.palettes)
            for pal, want in zip(dictionary["palettes"], header.dictionary.palettes):
                assert tuple(pal["planes"]) == want.planes
                assert pal["entries"] == len(want)
                assert pal["colours"] == want.entries.astype(int).tolist()
                net = pal["network"]
                assert (net["hidden"], net["shifts"]) == \
                    (want.net.w1.shape[1], [want.net.s1, want.net.s2])
                assert net["bytes"] == len(want.net.to_bytes()) and net["trailing_bytes"] == 0
            model = group["model"]
            assert model["trailing_bytes"] == 0 and group["trailing_bytes"] == 0
            palette_planes = {p for pal in header.dictionary.palettes for p in pal.planes}
            kinds = {f["kind"] for f in group["frames"]}
            for kind in ("intra", "inter"):  # 4.3: only sample-coded planes have networks
                for p, net in enumerate(model[kind]):
                    if p in palette_planes:
                        assert net is None and getattr(header.model, kind)[p] is None
                    elif kind in kinds:
                        assert net is not None
            for kind in ("intra", "inter"):
                for net, want in zip(model[kind], getattr(header.model, kind)):
                    if want is None:
                        assert net is None
                        continue
                    assert (net["n_in"], tuple(net["hidden"]), net["n_thr"]) == \
                        (want.n_in, want.hidden, len(want.layers()[-1]))
                    # thresholds come last: equal ones mean the whole record decoded alike
                    assert net["thresholds"] == want.layers()[-1].tolist()
                    assert net["out_shifts"] == want.flat[8:8 + net["n_out"]].tolist()
                    assert not net["problems"]
            for frame, record in zip(group["frames"], frames, strict=True):
                payload = record.payload
                assert (frame["frame"], frame["pts"], frame["duration"], frame["md5"]) == \
                    (record.index, record.pts, record.duration, record.md5.hex())
                assert frame["kind"] == {0: "intra", 1: "inter"}[payload[0]]
                assert len(frame["slice_bytes"]) == header.slices
                motion = 0 if frame["motion_bytes"] is None else \
                    _uvar_size(frame["motion_bytes"]) + frame["motion_bytes"]
                lengths = sum(_uvar_size(n) for n in frame["slice_bytes"][:-1])
                assert 1 + motion + lengths + sum(frame["slice_bytes"]) == len(payload)
            assert [f["kind"] for f in group["frames"]][0] == "intra"


def _uvar_size(n: int) -> int:
    return max(1, -(-n.bit_length() // 7))


PALETTE_SETTINGS = EncodeSettings(palette="on", hidden=(8, 8), train_steps=40,
                                  train_samples=6000)


@pytest.fixture(scope="module")
def palette_coded(tmp_path_factory):
    """A few-colour 4:2:0 clip, 2 groups of 2 frames: a luma and a chroma-pair palette."""
    folder = tmp_path_factory.mktemp("pal")
    info, frames = screen_clip("yuv420p", colours=12, width=48, height=32, count=4, seed=2)
    src = write_clip(folder / "screen.mkv", info, frames)
    path = folder / "screen.fcv"
    framecodec.encode(src, path, settings=PALETTE_SETTINGS, group_size=2)
    return path, frames


def test_dump_agrees_with_reader_on_palettes(palette_coded, spec):
    path, frames = palette_coded
    run = subprocess.run([sys.executable, str(DUMP), str(path), "--json"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    dumped = json.loads(run.stdout)
    _check_dump(path, dumped, spec, groups=2, frames=4)
    for group in dumped["groups"]:
        dictionary = group["dictionary"]
        assert dictionary["mode"] == "palettes"
        assert [p["planes"] for p in dictionary["palettes"]] == [[0], [1, 2]]
        assert [p["mask"] for p in dictionary["palettes"]] == [1, 6]
        assert {f["kind"] for f in group["frames"]} == {"intra", "inter"}
        for kind in ("intra", "inter"):  # every plane is a palette plane: no networks
            assert group["model"][kind] == [None, None, None]
    assert_frames_equal(list(framecodec.decode_frames(path)), frames)
    text = subprocess.run([sys.executable, str(DUMP), str(path)], capture_output=True,
                          text=True, check=True).stdout
    assert "palette 1: planes [1, 2], " in text and "problem" not in text


def test_dump_reports_a_bad_palette_mask(palette_coded, tmp_path):
    """Patch group 0's first palette mask to planes 0 and 1 (not a 4:2:0 plane set),
    recompute the CRC: the reader refuses it and the dump says why."""
    path, _ = palette_coded
    data = bytearray(path.read_bytes())
    with FcvReader(path) as reader:
        offset = reader.groups[0].offset
        header_bytes, _ = reader.read_group(0)
        GroupHeader.from_bytes(header_bytes, reader.info, 0)
    # GRUP payload: group, first, count (u32), max_error (u16), 4 x u8, flags (u8, 2.7 on),
    # dictionary blob
    mask_at = offset + 8 + 4 + 4 + 4 + 2 + 4 + 1 + 4 + 3
    assert data[mask_at] == 1
    data[mask_at] = 0b011
    (length,) = struct.unpack_from("<I", data, offset + 4)
    payload = bytes(data[offset + 8:offset + 8 + length])
    struct.pack_into("<I", data, offset + 8 + length,
                     zlib.crc32(payload, zlib.crc32(b"GRUP")) & 0xFFFFFFFF)
    bad = tmp_path / "mask.fcv"
    bad.write_bytes(bytes(data))
    with FcvReader(bad) as reader:
        header_bytes, _ = reader.read_group(0)
        with pytest.raises(CorruptError):
            GroupHeader.from_bytes(header_bytes, reader.info, 0)
    run = subprocess.run([sys.executable, str(DUMP), str(bad), "--json"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert any("not a plane set" in p for p in json.loads(run.stdout)["problems"])


def _parse_group_fields(rows, payload: bytes) -> tuple[dict, dict, int]:
    """A GRUP payload read field by field with the table's types: (values, offsets, end)."""
    pos, values, at = 0, {}, {}
    for row in rows:
        kind = _unquote(row["type"])
        at[row["field"]] = pos
        if "only when" in kind:  # pull (2.10): there with the flags' PULL bit alone
            assert kind.replace("`", "") == "u16, only when flags has PULL", kind
            kind = "u16"
            if not values["flags"] & 8:
                values[row["field"]] = 0
                continue
        if kind.startswith("uvar"):  # slice_starts: S - 1 varints
            assert kind.replace(" ", "").replace("`", "") == "uvarx(S-1)", kind
            values[row["field"]] = []
            for _ in range(values["slices"] - 1):
                value, shift = 0, 0
                while True:
                    byte = payload[pos]
                    pos += 1
                    value |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                values[row["field"]].append(value)
        elif kind == "blob":
            (n,) = struct.unpack_from("<I", payload, pos)
            values[row["field"]] = payload[pos + 4:pos + 4 + n]
            pos += 4 + n
        else:
            (values[row["field"]],) = struct.unpack_from("<" + CODES[kind], payload, pos)
            pos += SIZES[kind]
    return values, at, pos


def test_group_field_table_matches_header(coded, spec):
    """The GRUP table, read with its own types, parses a real group header (and one
    with a pull, 2.10)."""
    rows = table(spec, "group-fields")
    with FcvReader(coded) as reader:
        header_bytes, _ = reader.read_group(1)
        header = GroupHeader.from_bytes(header_bytes, reader.info, 1)
        payload = struct.pack("<I", 1) + header_bytes
        values, at, pos = _parse_group_fields(rows, payload)
        assert pos == len(payload)
        pulled = struct.pack("<I", 1) + replace(header, max_error=3, pull=2).to_bytes()
        pulled_values, _, end = _parse_group_fields(rows, pulled)
        assert end == len(pulled) and pulled_values["flags"] & PULL_FLAG
        assert (pulled_values["max_error"], pulled_values["pull"]) == (3, 2)
        assert values["pull"] == 0
        assert values["group"] == 1
        for field in ("first_frame", "frame_count", "max_error", "log2_block", "slices", "refs",
                      "reason"):
            assert values[field] == getattr(header, field), field
        assert values["flags"] == int(header.mixing) | 2 * int(header.long_rates)
        assert values["dictionary"] == header.dictionary.to_bytes()
        assert header.slices == 2 and [0] + values["slice_starts"] == list(header.slice_starts)

        # the documented ranges are the ones the reader enforces; the slice count
        # alone is patched in a version 2.0 header (no flags, no slice starts follow it)
        # and its model record coded as before 2.5 (models that do not warm up, 6.1)
        old_model = header.model.to_bytes(warm_up=False)
        plain = payload[:at["flags"]] + payload[at["dictionary"]:at["model"]] \
            + struct.pack("<I", len(old_model)) + old_model
        block_rows = -(-reader.info.height // (1 << header.log2_block))
        for field in ("log2_block", "slices", "refs"):
            allowed = next(r["allowed values"] for r in rows if r["field"] == field)
            lo, hi = (int(v) for v in re.search(r"(\d+)\.\.(\d+)", allowed).groups())
            cases = [(lo - 1, False), (lo, True), (hi, True), (hi + 1, False)]
            if field == "slices":  # "and at most the number of block rows"
                assert "at most the number of block rows" in allowed and block_rows < hi
                cases = [(0, False), (1, True), (block_rows, True), (block_rows + 1, False),
                         (hi, False), (hi + 1, False)]
            for value, ok in cases:
                patched = bytearray(plain)
                patched[at[field]] = value
                parse = lambda: GroupHeader.from_bytes(bytes(patched[4:]), reader.info, 1,  # noqa
                                                       (2, 0))
                if ok:
                    parse()
                else:
                    with pytest.raises(CorruptError):
                        parse()
        # slice starts: increasing, within the block rows (version 2.1)
        for starts, ok in (([4], True), ([1], True), ([block_rows - 1], True), ([0], False),
                           ([block_rows], False), ([block_rows + 5], False)):
            patched = payload[:at["slice_starts"]] + bytes(starts) + payload[at["dictionary"]:]
            if ok:
                assert GroupHeader.from_bytes(patched[4:], reader.info, 1).slice_starts == \
                    (0, *starts)
            else:
                with pytest.raises(CorruptError, match="slice starts"):
                    GroupHeader.from_bytes(patched[4:], reader.info, 1)


def test_dump_reports_damage(coded, tmp_path):
    data = bytearray(coded.read_bytes())
    data[200] ^= 0x40  # inside group 0's header chunk
    path = tmp_path / "flip.fcv"
    path.write_bytes(bytes(data[:-7]))  # and cut the tail
    run = subprocess.run([sys.executable, str(DUMP), str(path), "--json"],
                         capture_output=True, text=True, check=False)
    report = json.loads(run.stdout)
    assert run.returncode == 1
    assert not report["chunks"][1]["crc_ok"]
    assert any("TAIL" in p or "past the end" in p for p in report["problems"])


def test_dump_reads_the_audio_record(tmp_path):
    """``auds``/``audm`` (an animation clip with AAC audio; skipped without the corpus)."""
    out = tmp_path / "a.fcv"
    framecodec.encode(corpus_clip("animation_wannaworktogether_480x352.mp4"), out,
                      settings=FAST, frames=(2, 4), group_size=2)
    run = subprocess.run([sys.executable, str(DUMP), str(out), "--json"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    audio = json.loads(run.stdout)["audio"]
    with FcvReader(out) as reader:
        info, data = reader.audio()
        assert audio["offset"] == reader.audio_offset > 0
    assert audio["version"] == 1 and audio["codec"] == info.codec
    assert sum(audio["pieces"]) == audio["size"] == len(data)
    assert audio["start_us"] == round(info.start * 1e6) and audio["end_us"] == round(info.end * 1e6)


def test_varint_table_matches_code(spec):
    from framecodec.format.bitstream import ByteReader, ByteWriter
    for row in table(spec, "varints"):
        value, kind = int(row["value"]), _unquote(row["type"])
        want = bytes.fromhex(_unquote(row["bytes"]))
        data = getattr(ByteWriter(), kind)(value).getvalue()
        assert data == want, f"{kind} {value}"
        assert getattr(ByteReader(data), kind)() == value


def test_record_class_table_matches_model(spec):
    from framecodec.format import model
    code = {"presence": model._PRESENCE, "header": model._HEADER_CLASS,
            "hidden weights": model._HIDDEN_WEIGHTS, "hidden biases": model._HIDDEN_BIASES,
            "output weights": model._OUT_WEIGHTS, "output biases": model._OUT_BIASES,
            "thresholds": model._THRESHOLDS}
    rows = table(spec, "record-classes")
    assert {r["name"]: (int(r["class"]), int(r["max_exp"])) for r in rows} == code
    assert len(rows) == model.N_RECORD_CLASSES
