#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Print the container structure of a .fcv file, read with the standard library alone.

Written from docs/FORMAT.md, not from framecodec's container or codec code, so
that it cross-checks the spec against the bytes the encoder writes
(tests/test_format_doc.py compares its output with ``FcvReader``). It lists
every chunk with its offset, length and CRC status; the stream header fields;
per group its header fields, colour dictionary (per palette: its planes,
entry count, colours and palette network shape) and model record (decoded
with a plain range decoder: network shapes, shifts and thresholds); per frame
its duration, MD5 (when the stream header says frames carry one), kind,
motion substream length and slice lengths; the audio record, if any. It
decodes no samples, so it does not check the MD5s.

Usage::

    python tools/dump_fcv.py clip.fcv            # readable listing
    python tools/dump_fcv.py clip.fcv --json     # the same facts as JSON

Exit status 0 when the file parses cleanly, 1 when problems were found.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import zlib

SIGNATURE = bytes.fromhex("8B 46 43 56 0D 0A 1A 0A")
TAIL_SIZE = 20
KINDS = {0: "intra", 1: "inter"}
REASONS = {0: "first group", 1: "scene cut", 2: "size limit"}
AUDIO_PIECE = 1 << 22

# FORMAT.md 3.1: code -> (name, family, planes, bit depth, cw, ch)
PIXEL_FORMATS = {
    1: ("gray", "gray", 1, 8, 0, 0), 2: ("yuv420p", "yuv", 3, 8, 1, 1),
    3: ("yuv422p", "yuv", 3, 8, 1, 0), 4: ("yuv444p", "yuv", 3, 8, 0, 0),
    5: ("gbrp", "rgb", 3, 8, 0, 0), 6: ("yuvj420p", "yuv", 3, 8, 1, 1),
    7: ("yuvj422p", "yuv", 3, 8, 1, 0), 8: ("yuvj444p", "yuv", 3, 8, 0, 0),
    9: ("yuv440p", "yuv", 3, 8, 0, 1), 10: ("yuv410p", "yuv", 3, 8, 2, 2),
    11: ("yuv411p", "yuv", 3, 8, 2, 0), 12: ("yuva420p", "yuv", 4, 8, 1, 1),
    13: ("yuva444p", "yuv", 4, 8, 0, 0), 14: ("gbrap", "rgb", 4, 8, 0, 0),
    20: ("gray10le", "gray", 1, 10, 0, 0), 21: ("gray12le", "gray", 1, 12, 0, 0),
    22: ("gray16le", "gray", 1, 16, 0, 0), 23: ("yuv420p10le", "yuv", 3, 10, 1, 1),
    24: ("yuv422p10le", "yuv", 3, 10, 1, 0), 25: ("yuv444p10le", "yuv", 3, 10, 0, 0),
    26: ("yuv420p12le", "yuv", 3, 12, 1, 1), 27: ("yuv422p12le", "yuv", 3, 12, 1, 0),
    28: ("yuv444p12le", "yuv", 3, 12, 0, 0), 29: ("yuv420p16le", "yuv", 3, 16, 1, 1),
    30: ("yuv444p16le", "yuv", 3, 16, 0, 0), 31: ("gbrp10le", "rgb", 3, 10, 0, 0),
    32: ("gbrp12le", "rgb", 3, 12, 0, 0), 33: ("gbrp16le", "rgb", 3, 16, 0, 0),
}

HEAD_FIELDS = [  # FORMAT.md 3: (name, struct code)
    ("version_major", "H"), ("version_minor", "H"), ("width", "I"), ("height", "I"),
    ("pix_fmt", "B"), ("bit_depth", "B"), ("frame_rate_num", "I"), ("frame_rate_den", "I"),
    ("time_base_num", "I"), ("time_base_den", "I"), ("frame_count", "I"),
    ("group_count", "I"), ("max_error", "H"), ("color_range", "B"), ("color_matrix", "B"),
    ("color_primaries", "B"), ("color_transfer", "B"), ("sar_num", "I"), ("sar_den", "I"),
    ("rotation", "H"), ("fixity", "B"), ("hash_layout", "B"), ("start_time", "q"),
    ("source_format_length", "B"),
]
VERSION_MAJOR = 2
NEWEST = (2, 10)  # the version this reader was written for: assumed without a HEAD
# FORMAT.md 2.7: hash layout code -> (name, the stream formats it fits; None: any)
HASH_LAYOUTS = {
    0: ("planar", None), 1: ("rgb24", {"gbrp"}), 2: ("bgr24", {"gbrp"}),
    3: ("rgba", {"gbrap"}), 4: ("bgra", {"gbrap"}), 5: ("argb", {"gbrap"}),
    6: ("abgr", {"gbrap"}), 7: ("rgb0", {"gbrp"}), 8: ("bgr0", {"gbrp"}),
    9: ("0rgb", {"gbrp"}), 10: ("0bgr", {"gbrp"}), 11: ("nv12", {"yuv420p"}),
    12: ("nv21", {"yuv420p"}),
}
MD5_SIZE = 16


class Truncated(Exception):
    pass


class Fields:
    """Little-endian fields from a byte string; running out raises ``Truncated``."""

    def __init__(self, data: bytes, what: str):
        self.data = data
        self.pos = 0
        self.what = what

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, code: str):
        size = struct.calcsize("<" + code)
        if size > self.left:
            raise Truncated(f"{self.what} ends inside a field")
        value = struct.unpack_from("<" + code, self.data, self.pos)
        self.pos += size
        return value[0] if len(value) == 1 else value

    def raw(self, n: int) -> bytes:
        if n > self.left:
            raise Truncated(f"{self.what}: {n} bytes wanted, {self.left} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def blob(self) -> bytes:
        return self.raw(self.take("I"))

    def uvar(self) -> int:
        """FORMAT.md 1.2: LEB128, at most 10 bytes, minimal, below 2^64."""
        value = 0
        for i in range(10):
            b = self.take("B")
            value |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                if (b == 0 and i) or value >= 1 << 64:
                    raise Truncated(f"{self.what}: invalid variable-length integer")
                return value
        raise Truncated(f"{self.what}: variable-length integer longer than 10 bytes")

    def svar(self) -> int:
        u = self.uvar()
        return u >> 1 if not u & 1 else -(u >> 1) - 1

    def vblob(self) -> bytes:
        return self.raw(self.uvar())


class RangeDecoder:
    """FORMAT.md 6.1 and 6.2: the binary range decoder and signed values, plainly."""

    def __init__(self, data: bytes, contexts: int, warm_up: bool):
        """``warm_up``: models count their first decisions (version 2.5 on)."""
        self.data, self.pos, self.overread = data, 0, 0
        self.models = [[32768, 32768, 0 if warm_up else 255] for _ in range(contexts)]
        self.code, self.range = 0, 0xFFFFFFFF
        for _ in range(4):
            self.code = ((self.code << 8) | self._byte()) & 0xFFFFFFFF

    def _byte(self) -> int:
        b = self.data[self.pos] if self.pos < len(self.data) else 0
        self.overread += self.pos >= len(self.data)
        self.pos += 1
        return b

    def bit(self, ctx: int) -> int:
        m = self.models[ctx]
        bound = (self.range >> 16) * ((m[0] + m[1]) >> 1)
        fast = min(4, (m[2] + 1).bit_length())
        slow = min(7, (m[2] + 1).bit_length())
        m[2] = min(m[2] + 1, 255)
        if self.code < bound:
            self.range, bit = bound, 1
            m[0] += (65536 - m[0]) >> fast
            m[1] += (65536 - m[1]) >> slow
        else:
            self.code -= bound
            self.range -= bound
            bit = 0
            m[0] -= m[0] >> fast
            m[1] -= m[1] >> slow
        while self.range < 1 << 24:
            self.range <<= 8
            self.code = ((self.code << 8) | self._byte()) & 0xFFFFFFFF
        return bit

    def signed(self, base: int, max_exp: int) -> int:
        if self.bit(base):
            return 0
        negative = self.bit(base + 1)  # sign context 0
        e = 0
        while e < max_exp and self.bit(base + 5 + min(e, 15)):
            e += 1
        a = 1
        for j in range(e - 1, -1, -1):
            a = (a << 1) | self.bit(base + 21 + min(j, 15))
        return -a if negative else a

    def ints(self, record_class: tuple[int, int], n: int) -> list[int]:
        cls, max_exp = record_class
        return [self.signed(cls * SET_SIZE, max_exp) for _ in range(n)]


# ----------------------------------------------------------------- payloads


def parse_head(payload: bytes) -> dict:
    r = Fields(payload, "HEAD")
    head = {name: r.take(code) for name, code in HEAD_FIELDS}
    head["source_format"] = r.raw(head["source_format_length"]).decode("ascii", "replace")
    head["extra_bytes"] = r.left
    fmt = PIXEL_FORMATS.get(head["pix_fmt"])
    head["pix_fmt_name"] = fmt[0] if fmt else None
    layout = HASH_LAYOUTS.get(head["hash_layout"])
    head["hash_layout_name"] = layout[0] if layout else None
    head["problems"] = []
    if head["version_major"] != VERSION_MAJOR:
        head["problems"].append(f"version {head['version_major']}.{head['version_minor']} is "
                                f"not {VERSION_MAJOR}.x")
    if head["fixity"] > 2 or layout is None or (
            layout[1] is not None and head["pix_fmt_name"] not in layout[1]):
        head["problems"].append(f"fixity {head['fixity']} or hash layout "
                                f"{head['hash_layout']} not allowed for this format")
    if fmt:
        head["planes"] = fmt[2]
        head["plane_sizes"] = plane_sizes(fmt, head["width"], head["height"])
    return head


def plane_sizes(fmt, width: int, height: int) -> list[list[int]]:
    _, family, planes, _, cw, ch = fmt
    out = []
    for p in range(planes):
        sx, sy = (cw, ch) if family == "yuv" and p in (1, 2) else (0, 0)
        out.append([(width + (1 << sx) - 1) >> sx, (height + (1 << sy) - 1) >> sy])
    return out


def plane_sets(fmt) -> list[list[int]]:
    """FORMAT.md 4.2: maximal runs of consecutive planes with the same shifts."""
    _, family, planes, _, cw, ch = fmt
    shifts = [(cw, ch) if family == "yuv" and p in (1, 2) else (0, 0) for p in range(planes)]
    sets: list[list[int]] = []
    for p in range(planes):
        if sets and shifts[p] == shifts[sets[-1][-1]]:
            sets[-1].append(p)
        else:
            sets.append([p])
    return sets


SET_SIZE = 37  # FORMAT.md 6.2
# FORMAT.md 4.3: model record classes, (class, largest exponent)
PRESENCE, HEADER, HIDDEN_W, HIDDEN_B, OUT_W, OUT_B, THRESHOLDS = \
    (0, 1), (1, 8), (2, 7), (3, 30), (4, 15), (5, 30), (6, 32)
PALETTE_INPUTS, PALETTE_OUTPUTS = 12, 5  # FORMAT.md 4.2.1: pattern bits, candidate slots


def parse_palette_net(data: bytes) -> dict:
    """FORMAT.md 4.2.1: H, s1, s2, W1 (i8), B1 (i32), W2 (i16), B2 (i32)."""
    r = Fields(data, "palette network")
    hidden, s1, s2 = r.take("B"), r.take("B"), r.take("B")
    w1 = struct.unpack(f"<{PALETTE_INPUTS * hidden}b", r.raw(PALETTE_INPUTS * hidden))
    r.raw(4 * hidden)
    w2 = struct.unpack(f"<{PALETTE_OUTPUTS * hidden}h", r.raw(2 * PALETTE_OUTPUTS * hidden))
    r.raw(4 * PALETTE_OUTPUTS)
    problems = []
    if not 1 <= hidden <= 64 or s1 > 31 or s2 > 31:
        problems.append("palette network width or shift out of range")
    if any(w < -127 for w in w1) or any(w < -32767 for w in w2):
        problems.append("palette network weight out of range")
    if r.left:
        problems.append(f"{r.left} bytes after the palette network")
    return {"n_in": PALETTE_INPUTS, "hidden": hidden, "n_out": PALETTE_OUTPUTS,
            "shifts": [s1, s2], "bytes": 3 + 26 * hidden + 20, "trailing_bytes": r.left,
            "problems": problems}


def parse_entries(packed: bytes, k: int, n: int, maxval: int | None) -> tuple[list, list]:
    """(colours, problems): K rows of n i32 deltas, deflated (FORMAT.md 4.2)."""
    want = k * n * 4
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, want)
    except zlib.error as exc:
        return [], [f"entries do not inflate: {exc}"]
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail or len(raw) != want:
        return [], ["entries do not inflate to exactly K * n * 4 bytes"]
    deltas = struct.unpack(f"<{k * n}i", raw)
    colours, acc, problems = [], [0] * n, []
    for row in range(k):
        acc = [acc[c] + deltas[row * n + c] for c in range(n)]
        colours.append(list(acc))
    if maxval is not None and any(not 0 <= v <= maxval for c in colours for v in c):
        problems.append("palette entry outside 0..maxval")
    if any(colours[i] >= colours[i + 1] for i in range(k - 1)):
        problems.append("palette entries are not strictly increasing")
    return colours, problems


def parse_dictionary(data: bytes, head: dict | None = None) -> dict:
    r = Fields(data, "dictionary")
    mode, planes, count = r.take("B"), r.take("B"), r.take("B")
    # mode bit 0: palettes follow; bit 1 (2.4 on): planes 1 and 2 are differences
    # from plane 0 (4.2.2)
    names = {0: "identity", 1: "palettes", 2: "differences", 3: "palettes+differences"}
    out = {"mode": names.get(mode, f"unknown {mode}"), "differences": bool(mode & 2),
           "planes": planes, "count": count, "entries": 0, "bytes": len(data),
           "palettes": []}
    problems = []
    fmt = PIXEL_FORMATS.get(head["pix_fmt"]) if head else None
    sets = plane_sets(fmt) if fmt else None
    masks = {sum(1 << p for p in s) for s in sets} if fmt else None
    maxval = (1 << fmt[3]) - 1 if fmt else None
    version = (head["version_major"], head["version_minor"]) if head else NEWEST
    if mode > (3 if version >= (2, 4) else 1) or (mode & 1 == 0) != (count == 0):
        problems.append("dictionary mode and palette count disagree")
    if mode & 2 and sets is not None and len(sets[0]) < 3:
        problems.append("plane differences in a format whose planes 0-2 are not one set")
    if fmt and planes != fmt[2]:
        problems.append("dictionary plane count is not the format's")
    used = 0
    for _ in range(count):
        mask, k = r.take("B"), r.take("I")
        packed, net = r.blob(), r.blob()
        pal = {"mask": mask, "planes": [p for p in range(8) if mask >> p & 1], "entries": k,
               "packed_bytes": len(packed), "colours": [], "network": parse_palette_net(net)}
        if masks is not None and mask not in masks:
            problems.append(f"palette mask {mask:#x} is not a plane set")
        if mask & used:
            problems.append(f"palette mask {mask:#x} overlaps an earlier palette")
        if mode & 2 and mask & 1:
            problems.append("plane differences with a palette of plane 0's set")
        used |= mask
        if not 1 <= k <= 65536:
            problems.append(f"palette entry count {k} outside 1..65536")
        elif pal["planes"]:
            pal["colours"], found = parse_entries(packed, k, len(pal["planes"]), maxval)
            problems += found
        problems += pal["network"]["problems"]
        out["entries"] += k
        out["palettes"].append(pal)
    out["trailing_bytes"] = r.left
    out["problems"] = problems
    return out


def net_size(n_in: int, h1: int, h2: int, n_out: int, n_thr: int) -> int:
    last = h2 or h1
    return (16 + n_in * h1 + 4 * h1 + (h1 * h2 + 4 * h2 if h2 else 0)
            + 2 * last * n_out + 4 * n_out + 4 * n_thr)


def parse_network(d: RangeDecoder) -> dict:
    """FORMAT.md 4.4, from the model record's range decoder."""
    head = d.ints(HEADER, 16)
    n_in, h1, h2, n_seq, s1, s2, n_thr = head[:7]
    problems = [] if not any([head[7], *head[8 + 2 + 2 * n_seq:]]) else \
        ["reserved network header fields are not zero"]
    if not (1 <= n_in <= 12 and 1 <= h1 <= 64 and 0 <= h2 <= 64 and 2 <= n_seq <= 3
            and 0 <= n_thr <= 15):
        raise Truncated("network shape out of range")
    n_out = 2 + 2 * n_seq
    values = 16
    for n_a, n_b in [(n_in, h1)] + ([(h1, h2)] if h2 else []):
        weights, biases = d.ints(HIDDEN_W, n_a * n_b), d.ints(HIDDEN_B, n_b)
        values += len(weights) + len(biases)
        if any(abs(w) > 127 for w in weights) or any(abs(b) >= 1 << 30 for b in biases):
            problems.append("hidden weight or bias out of range")
    weights, biases = d.ints(OUT_W, (h2 or h1) * n_out), d.ints(OUT_B, n_out)
    if any(abs(w) > 32767 for w in weights) or any(abs(b) >= 1 << 30 for b in biases):
        problems.append("output weight or bias out of range")
    gaps = d.ints(THRESHOLDS, n_thr)
    thresholds = [sum(gaps[:i + 1]) for i in range(n_thr)]
    if any(g <= 0 for g in gaps[1:]):
        problems.append("thresholds are not increasing")
    values += len(weights) + len(biases) + n_thr
    return {"n_in": n_in, "hidden": [h1, h2], "n_seq": n_seq, "n_out": n_out,
            "shifts": [s1, s2], "out_shifts": list(head[8:8 + n_out]),
            "reserved": [head[7], *head[8 + n_out:]], "n_thr": n_thr,
            "thresholds": thresholds, "values": values, "problems": problems}


def parse_model(data: bytes, version: tuple[int, int]) -> dict:
    """FORMAT.md 4.3: u8 plane count, then one range-coded record."""
    out = {"bytes": len(data)}
    if not data:
        raise Truncated("empty model record")
    planes = data[0]
    out["planes"] = planes
    d = RangeDecoder(data[1:], 7 * SET_SIZE, version >= (2, 5))
    for kind in ("intra", "inter"):
        nets = []
        for _ in range(planes):
            present = d.ints(PRESENCE, 1)[0]
            if present not in (0, 1):
                raise Truncated("presence flag is not 0 or 1")
            nets.append(parse_network(d) if present else None)
        out[kind] = nets
    # a complete record is read to its last byte, and at most 4 bytes past it
    out["trailing_bytes"] = max(0, len(data) - 1 - d.pos)
    out["overread"] = d.overread
    return out


def parse_group(payload: bytes, head: dict | None = None) -> dict:
    r = Fields(payload, "GRUP")
    g = {"group": r.take("I"), "first_frame": r.take("I"), "frame_count": r.take("I"),
         "max_error": r.take("H"), "log2_block": r.take("B"), "slices": r.take("B"),
         "refs": r.take("B"), "reason": r.take("B")}
    g["block"] = 1 << g["log2_block"]
    version = (head["version_major"], head["version_minor"]) if head else NEWEST
    g["flags"] = r.take("B") if version >= (2, 7) else 0  # bit 0: mixing (6.5.6)
    g["mixing"] = bool(g["flags"] & 1)
    # bit 1 (2.8 on): the sample models' long rates (6.1); before 2.8 a group of
    # several frames has them from 2.5 on
    # bit 2 (2.9 on): two-sided coding order and bi-predicted blocks (5.3)
    # bit 3 (2.10 on): a u16 pull follows the flags (6.5.5)
    defined = 15 if version >= (2, 10) else 7 if version >= (2, 9) else \
        (3 if version >= (2, 8) else 1)
    g["undefined_flags"] = g["flags"] & ~defined
    g["two_sided"] = bool(g["flags"] & 4) and version >= (2, 9)
    g["pull"] = r.take("H") if g["flags"] & 8 and version >= (2, 10) else 0
    if version >= (2, 8):
        long_rates = bool(g["flags"] & 2)
    else:
        long_rates = version >= (2, 5) and g["frame_count"] > 1
    g["sample_rates"] = (5, 9) if long_rates else (4, 7)
    if version >= (2, 1):  # where each slice starts, in block rows (5.2)
        g["slice_starts"] = [0] + [r.uvar() for _ in range(g["slices"] - 1)]
    else:  # version 2.0: slices cut evenly
        rows = -(-head["height"] // g["block"])
        g["slice_starts"] = [s * rows // g["slices"] for s in range(g["slices"])]
    g["dictionary"] = parse_dictionary(r.blob(), head)
    if g["dictionary"]["differences"] and g["max_error"] > 0:
        g["dictionary"]["problems"].append("plane differences in a near-lossless group")
    g["model"] = parse_model(r.blob(), version)
    g["trailing_bytes"] = r.left
    g["frames"] = []
    return g


def parse_frame(payload: bytes, slices: int | None, hashed: bool) -> dict:
    r = Fields(payload, "FRAM")
    f = {"group": r.uvar(), "frame": r.uvar(), "pts": r.svar(), "duration": r.uvar()}
    f["md5"] = r.raw(MD5_SIZE).hex() if hashed else None
    kind = r.take("B")
    f["kind"] = KINDS.get(kind, f"unknown {kind}")
    f["motion_bytes"] = len(r.vblob()) if kind == 1 else None
    if slices is None:
        raise Truncated("frame before any group header: slice count unknown")
    lengths = [r.uvar() for _ in range(slices - 1)]  # the last slice takes the rest
    for n in lengths:
        r.raw(n)
    lengths.append(r.left)
    r.raw(r.left)
    f["slice_bytes"] = lengths
    f["trailing_bytes"] = r.left
    return f


def parse_index(payload: bytes) -> dict:
    r = Fields(payload, "INDX")
    count = r.take("I")
    entries = []
    for _ in range(count):
        offset, first, frames = r.take("Q"), r.take("I"), r.take("I")
        entries.append({"offset": offset, "first_frame": first, "frame_count": frames})
    audio = r.take("Q")
    return {"count": count, "entries": entries, "audio_offset": audio,
            "trailing_bytes": r.left}


def parse_audio(payload: bytes) -> dict:
    r = Fields(payload, "auds")
    audio = {"version": r.take("H"), "start_us": r.take("q"), "end_us": r.take("q"),
             "size": r.take("Q")}
    audio["codec"] = r.raw(r.take("B")).decode("ascii", "replace")
    audio["pieces"] = []
    return audio


# ----------------------------------------------------------------- the file


def dump(path: str) -> dict:
    with open(path, "rb") as f:
        data = f.read()
    report = {"file": path, "size": len(data), "signature_ok": data[:8] == SIGNATURE,
              "chunks": [], "head": None, "groups": [], "index": None, "tail": None,
              "audio": None, "problems": []}
    problems = report["problems"]
    if not report["signature_ok"]:
        problems.append("bad signature")
        return report
    pos, group = len(SIGNATURE), None
    while pos < len(data):
        if pos + 12 > len(data):
            problems.append(f"byte {pos}: file ends inside a chunk header")
            break
        tag = data[pos:pos + 4]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        name = tag.decode("latin-1")
        if pos + 12 + length > len(data):
            problems.append(f"byte {pos}: chunk {name!r} length {length} runs past the end")
            break
        payload = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack_from("<I", data, pos + 8 + length)
        crc_ok = crc == zlib.crc32(payload, zlib.crc32(tag)) & 0xFFFFFFFF
        chunk = {"tag": name, "offset": pos, "length": length, "crc_ok": crc_ok,
                 "critical": tag[:1].isupper()}
        report["chunks"].append(chunk)
        if not crc_ok:
            problems.append(f"byte {pos}: chunk {name} fails its CRC")
        try:
            if tag == b"HEAD":
                report["head"] = parse_head(payload)
            elif tag == b"GRUP":
                group = parse_group(payload, report["head"])
                group["offset"] = pos
                report["groups"].append(group)
            elif tag == b"FRAM":
                hashed = bool(report["head"] and report["head"]["fixity"])
                frame = parse_frame(payload, group["slices"] if group else None, hashed)
                frame["offset"] = pos
                if group is not None:
                    group["frames"].append(frame)
            elif tag == b"auds":
                report["audio"] = parse_audio(payload)
                report["audio"]["offset"] = pos
            elif tag == b"audm":
                if report["audio"] is None:
                    problems.append(f"byte {pos}: audm without auds")
                else:
                    report["audio"]["pieces"].append(length)
            elif tag == b"INDX":
                report["index"] = parse_index(payload)
                report["index"]["offset"] = pos
            elif tag == b"TAIL":
                (at,) = struct.unpack("<Q", payload) if length == 8 else (None,)
                report["tail"] = {"offset": pos, "index_offset": at}
            elif tag[:1].isupper():
                problems.append(f"byte {pos}: unknown critical chunk {name!r}")
        except (Truncated, zlib.error, struct.error) as exc:
            problems.append(f"byte {pos}: chunk {name}: {exc}")
        pos += 12 + length
    _consistency(report)
    return report


def _consistency(report: dict) -> None:
    """The cross-references FORMAT.md requires between chunks."""
    problems = report["problems"]
    chunks = report["chunks"]
    if not chunks or chunks[0]["tag"] != "HEAD":
        problems.append("first chunk is not HEAD")
    tail = report["tail"]
    if tail is None or tail["offset"] != report["size"] - TAIL_SIZE:
        problems.append("no TAIL chunk in the last 20 bytes")
    elif report["index"] is None or tail["index_offset"] != report["index"]["offset"]:
        problems.append("TAIL does not point at the INDX chunk")
    expect = 0
    for g, group in enumerate(report["groups"]):
        model = group["model"]
        if group["trailing_bytes"] or model.get("trailing_bytes") or model.get("overread", 0) > 4:
            problems.append(f"group {g}: trailing bytes in its header, or a model record "
                            "with unused bytes or cut short")
        for kind in ("intra", "inter"):
            for net in model.get(kind, []):
                problems.extend(f"group {g}: {kind} network: {p}"
                                for p in (net or {}).get("problems", []))
        if group["group"] != g:
            problems.append(f"group {g}: GRUP says group {group['group']}")
        if group["undefined_flags"]:
            problems.append(f"group {g}: flags {group['flags']:#x} set bits this version "
                            "does not define")
        if group["flags"] & 8 and not 1 <= group["pull"] <= group["max_error"]:
            problems.append(f"group {g}: pull {group['pull']} outside 1..max error")
        dictionary = group["dictionary"]
        if dictionary["trailing_bytes"]:
            problems.append(f"group {g}: trailing bytes in its colour dictionary")
        problems.extend(f"group {g}: {p}" for p in dictionary["problems"])
        palette_planes = {p for pal in dictionary["palettes"] for p in pal["planes"]}
        for kind, nets in (("intra", group["model"].get("intra", [])),
                           ("inter", group["model"].get("inter", []))):
            if any(f["kind"] == kind for f in group["frames"]):
                missing = [p for p, net in enumerate(nets)
                           if net is None and p not in palette_planes]
                if missing:
                    problems.append(f"group {g}: no {kind} network for sample-coded "
                                    f"plane(s) {missing}")
        for n, frame in enumerate(group["frames"]):
            if frame["group"] != g or frame["frame"] != expect + n:
                problems.append(f"group {g}: FRAM {n} says group {frame['group']}, "
                                f"frame {frame['frame']}")
            if frame["trailing_bytes"]:
                problems.append(f"frame {frame['frame']}: {frame['trailing_bytes']} "
                                "trailing bytes")
        expect += len(group["frames"])
    index, audio = report["index"], report["audio"]
    if audio is not None:
        pieces = audio["pieces"]
        if sum(pieces) != audio["size"] or any(n > AUDIO_PIECE for n in pieces):
            problems.append("audio pieces do not add up to the audio record's size")
    if index is not None:
        if index["trailing_bytes"]:
            problems.append(f"INDX has {index['trailing_bytes']} trailing bytes")
        want_audio = audio["offset"] if audio is not None else 0
        if index["audio_offset"] != want_audio:
            problems.append("INDX audio offset does not point at the auds chunk")
        got = [(e["offset"], e["first_frame"], e["frame_count"]) for e in index["entries"]]
        want = [(g["offset"], g["first_frame"], len(g["frames"])) for g in report["groups"]]
        if got != want:
            problems.append("INDX entries do not match the GRUP/FRAM chunks")
    head = report["head"]
    if head is not None and (head["frame_count"] != expect
                             or head["group_count"] != len(report["groups"])):
        problems.append("HEAD frame or group count does not match the chunks")
    if head is not None:
        problems.extend(f"HEAD: {p}" for p in head["problems"])


# ----------------------------------------------------------------- printing


def _net_text(net: dict | None) -> str:
    if net is None:
        return "absent"
    h1, h2 = net["hidden"]
    layers = f"{net['n_in']} -> {h1}" + (f" -> {h2}" if h2 else "") + f" -> {net['n_out']}"
    return (f"{layers}, shifts {net['shifts'][0]}/{net['shifts'][1]}, out shifts "
            f"{net['out_shifts']}, {net['n_thr']} thresholds, {net['values']} values")


def print_report(report: dict, out=sys.stdout) -> None:
    def say(text: str = "") -> None:
        print(text, file=out)

    say(f"{report['file']}: {report['size']} bytes, signature "
        f"{'ok' if report['signature_ok'] else 'BAD'}")
    by_offset = {g["offset"]: g for g in report["groups"]}
    frames = {f["offset"]: f for g in report["groups"] for f in g["frames"]}
    say(f"{'offset':>10}  tag   {'length':>9}  crc")
    for c in report["chunks"]:
        say(f"{c['offset']:>10}  {c['tag']:4}  {c['length']:>9}  "
            f"{'ok' if c['crc_ok'] else 'BAD'}")
        if c["tag"] == "HEAD" and report["head"]:
            h = report["head"]
            say(f"    version {h['version_major']}.{h['version_minor']}, "
                f"{h['width']}x{h['height']} {h['pix_fmt_name']} (code {h['pix_fmt']}, "
                f"{h['bit_depth']}-bit), {h['frame_count']} frames, {h['group_count']} groups")
            say(f"    frame rate {h['frame_rate_num']}/{h['frame_rate_den']}, time base "
                f"{h['time_base_num']}/{h['time_base_den']}, max error {h['max_error']}, "
                f"colour {h['color_range']}/{h['color_matrix']}/{h['color_primaries']}/"
                f"{h['color_transfer']}, aspect {h['sar_num']}:{h['sar_den']}, "
                f"rotation {h['rotation']}")
            say(f"    fixity {h['fixity']}, hash layout {h['hash_layout']} "
                f"({h['hash_layout_name']}), source decoded as {h['source_format'] or '?'}, "
                f"start time {h['start_time']} us")
        elif c["offset"] in by_offset:
            g = by_offset[c["offset"]]
            d, m = g["dictionary"], g["model"]
            say(f"    group {g['group']}: frames {g['first_frame']}+{g['frame_count']}, "
                f"max error {g['max_error']}, block {g['block']}, slices {g['slices']} "
                f"(from block rows {g['slice_starts']}), refs {g['refs']}, "
                f"reason {g['reason']} ({REASONS.get(g['reason'], '?')})"
                + f", sample rates {g['sample_rates'][0]}/{g['sample_rates'][1]}"
                + (", mixing" if g["mixing"] else "")
                + (", two-sided (coded 0, 2, 1, 4, 3, ...)" if g["two_sided"] else "")
                + (f", pull {g['pull']}" if g["pull"] else ""))
            say(f"    dictionary: {d['mode']}, {d['planes']} planes, {d['count']} palettes, "
                f"{d['entries']} entries, {d['bytes']} bytes")
            for i, pal in enumerate(d["palettes"]):
                net = pal["network"]
                say(f"      palette {i}: planes {pal['planes']}, {pal['entries']} entries "
                    f"({pal['packed_bytes']} bytes deflated), network {net['n_in']} -> "
                    f"{net['hidden']} -> {net['n_out']}, shifts {net['shifts'][0]}/"
                    f"{net['shifts'][1]}, {net['bytes']} bytes")
            palette_planes = {p for pal in d["palettes"] for p in pal["planes"]}
            say(f"    model: {m['bytes']} bytes")
            for kind in ("intra", "inter"):
                for p, net in enumerate(m.get(kind, [])):
                    note = " (palette plane)" if p in palette_planes else ""
                    say(f"      {kind} plane {p}: {_net_text(net)}{note}")
        elif c["offset"] in frames:
            f = frames[c["offset"]]
            motion = "" if f["motion_bytes"] is None else f", motion {f['motion_bytes']} bytes"
            md5 = f", md5 {f['md5']}" if f["md5"] else ""
            say(f"    frame {f['frame']} (group {f['group']}), pts {f['pts']}, duration "
                f"{f['duration']}{md5}, {f['kind']}{motion}, slices {f['slice_bytes']}")
        elif c["tag"] == "INDX" and report["index"]:
            for g, e in enumerate(report["index"]["entries"]):
                say(f"    group {g}: offset {e['offset']}, frames {e['first_frame']}"
                    f"+{e['frame_count']}")
            say(f"    audio at {report['index']['audio_offset'] or 'none'}")
        elif c["tag"] == "auds" and report["audio"]:
            a = report["audio"]
            end = "end" if a["end_us"] < 0 else f"{a['end_us']} us"
            say(f"    audio v{a['version']}: {a['codec']}, {a['size']} bytes of Matroska in "
                f"{len(a['pieces'])} pieces, packets from {a['start_us']} us to {end}")
        elif c["tag"] == "TAIL" and report["tail"]:
            say(f"    index at {report['tail']['index_offset']}")
    for problem in report["problems"]:
        say(f"problem: {problem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="a .fcv file")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    report = dump(args.file)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report)
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
