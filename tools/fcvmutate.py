# SPDX-License-Identifier: MIT
"""A structure-aware mutator of .fcv files, written from docs/FORMAT.md alone.

``parse`` turns a valid file into a tree: chunks, and inside each payload its
typed fields (FORMAT.md's tables: ``u8`` .. ``i64``, ``uvar``, ``svar``),
its blobs (the colour dictionary with its palettes, zlib entries and palette
networks; the model record) and its substreams (range-coded motion and
slices, the model record's coded bytes, audio pieces) as opaque bytes.
``mutate`` changes a few things in a copy, on purpose where a decoder must
check: a typed field (to a limit, a neighbour of one, or at random), a
substream (bits flipped, cut, grown, swapped with another), a length that
lies, chunk order, duplicated or missing chunks. ``serialize`` writes the tree
back, recomputing blob lengths, chunk lengths, CRCs, the index and the tail
unless the mutation chose to leave one of them wrong.

Used by tools/fuzz.py; imports nothing from framecodec.
"""

from __future__ import annotations

import copy
import random
import struct
import zlib
from dataclasses import dataclass, field

SIGNATURE = bytes.fromhex("8B 46 43 56 0D 0A 1A 0A")
_CODES = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q", "i8": "<b", "i16": "<h",
          "i32": "<i", "i64": "<q"}
_RANGES = {k: ((0, (1 << (8 * struct.calcsize(c))) - 1) if k[0] == "u" else
               (-(1 << (8 * struct.calcsize(c) - 1)), (1 << (8 * struct.calcsize(c) - 1)) - 1))
           for k, c in _CODES.items()}
_RANGES["uvar"] = (0, (1 << 64) - 1)
_RANGES["svar"] = (-(1 << 63), (1 << 63) - 1)
PLANES = {1: 1, 2: 3, 3: 3, 4: 3, 5: 3, 6: 3, 7: 3, 8: 3, 9: 3, 10: 3, 11: 3, 12: 4, 13: 4, 14: 4,
          20: 1, 21: 1, 22: 1, 23: 3, 24: 3, 25: 3, 26: 3, 27: 3, 28: 3, 29: 3, 30: 3, 31: 3,
          32: 3, 33: 3}  # FORMAT.md 3.1: pixel format code -> planes


# ----------------------------------------------------------------- the tree


@dataclass
class Field:
    """A typed integer (FORMAT.md 1.2)."""

    name: str
    kind: str
    value: int


@dataclass
class Bytes:
    """Opaque bytes: a range-coded substream, deflated entries, an audio piece."""

    name: str
    data: bytes


@dataclass
class Blob:
    """A length-prefixed part (``blob``: u32, ``vblob``: uvar) holding items;
    ``length`` set means the stored length lies."""

    name: str
    kind: str
    items: list
    length: int | None = None


@dataclass
class Chunk:
    tag: bytes
    items: list
    crc_wrong: bool = False
    length: int | None = None  # set: the stored length lies


@dataclass
class Tree:
    chunks: list[Chunk]
    keep_index: bool = False  # do not recompute INDX/TAIL (a mutation targets them)
    trailing: bytes = b""
    signature: bytes = SIGNATURE
    notes: list[str] = field(default_factory=list)


def _uvar(v: int) -> bytes:
    out = bytearray()
    v &= (1 << 64) - 1
    while v >= 0x80:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    out.append(v)
    return bytes(out)


def _pack(item) -> bytes:
    if isinstance(item, Field):
        lo, hi = _RANGES[item.kind]
        v = min(max(item.value, lo), hi)
        if item.kind == "uvar":
            return _uvar(v)
        if item.kind == "svar":
            return _uvar(2 * v if v >= 0 else -2 * v - 1)
        return struct.pack(_CODES[item.kind], v)
    if isinstance(item, Bytes):
        return item.data
    body = b"".join(_pack(i) for i in item.items)
    n = len(body) if item.length is None else item.length
    prefix = struct.pack("<I", n & 0xFFFFFFFF) if item.kind == "blob" else _uvar(n)
    return prefix + body


# ----------------------------------------------------------------- parsing


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def field(self, name: str, kind: str) -> Field:
        if kind in ("uvar", "svar"):
            v, shift = 0, 0
            while True:
                b = self.data[self.pos]
                self.pos += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            if kind == "svar":
                v = v >> 1 if not v & 1 else -(v >> 1) - 1
            return Field(name, kind, v)
        size = struct.calcsize(_CODES[kind])
        (v,) = struct.unpack_from(_CODES[kind], self.data, self.pos)
        self.pos += size
        return Field(name, kind, v)

    def raw(self, name: str, n: int) -> Bytes:
        out = Bytes(name, self.data[self.pos:self.pos + n])
        self.pos += n
        return out


def _head(r: _Reader) -> list:
    kinds = [("version_major", "u16"), ("version_minor", "u16"), ("width", "u32"),
             ("height", "u32"), ("pix_fmt", "u8"), ("bit_depth", "u8"),
             ("frame_rate_num", "u32"), ("frame_rate_den", "u32"), ("time_base_num", "u32"),
             ("time_base_den", "u32"), ("frame_count", "u32"), ("group_count", "u32"),
             ("max_error", "u16"), ("color_range", "u8"), ("color_matrix", "u8"),
             ("color_primaries", "u8"), ("color_transfer", "u8"), ("sar_num", "u32"),
             ("sar_den", "u32"), ("rotation", "u16"), ("fixity", "u8"), ("hash_layout", "u8"),
             ("start_time", "i64"), ("source_format_length", "u8")]
    items = [r.field(n, k) for n, k in kinds]
    items.append(r.raw("source_format", items[-1].value))
    if r.left():
        items.append(r.raw("extra", r.left()))
    return items


def _palette_net(data: bytes) -> list:
    r = _Reader(data)
    h = r.field("H", "u8")
    items = [h, r.field("s1", "u8"), r.field("s2", "u8")]
    items += [r.field(f"W1[{i}]", "i8") for i in range(12 * h.value)]
    items += [r.field(f"B1[{i}]", "i32") for i in range(h.value)]
    items += [r.field(f"W2[{i}]", "i16") for i in range(5 * h.value)]
    items += [r.field(f"B2[{i}]", "i32") for i in range(5)]
    return items


def _dictionary(data: bytes) -> list:
    r = _Reader(data)
    items = [r.field("mode", "u8"), r.field("planes", "u8")]
    count = r.field("count", "u8")
    items.append(count)
    for k in range(count.value):
        items += [r.field(f"palette{k}.mask", "u8"), r.field(f"palette{k}.K", "u32")]
        n = r.field("len", "u32").value
        items.append(Blob(f"palette{k}.entries", "blob", [r.raw("zlib", n)]))
        n = r.field("len", "u32").value
        items.append(Blob(f"palette{k}.network", "blob", _palette_net(r.raw("net", n).data)))
    if r.left():
        items.append(r.raw("trailing", r.left()))
    return items


def _group(r: _Reader, version: tuple[int, int]) -> list:
    items = [r.field(n, k) for n, k in (
        ("group", "u32"), ("first_frame", "u32"), ("frame_count", "u32"), ("max_error", "u16"),
        ("log2_block", "u8"), ("slices", "u8"), ("refs", "u8"), ("reason", "u8"))]
    if version >= (2, 7):
        items.append(r.field("flags", "u8"))
        if version >= (2, 10) and items[-1].value & 8:  # PULL: a u16 pull follows
            items.append(r.field("pull", "u16"))
    items += [r.field(f"slice_start[{s}]", "uvar") for s in range(1, items[5].value)]
    n = r.field("len", "u32").value
    items.append(Blob("dictionary", "blob", _dictionary(r.raw("d", n).data)))
    n = r.field("len", "u32").value
    model = r.raw("m", n).data
    items.append(Blob("model", "blob", [Field("planes", "u8", model[0]),
                                        Bytes("model substream", model[1:])]))
    return items


def _frame(r: _Reader, hashed: bool, slices: int) -> list:
    items = [r.field("group", "uvar"), r.field("frame", "uvar"), r.field("pts", "svar"),
             r.field("duration", "uvar")]
    if hashed:
        items.append(r.raw("md5", 16))
    kind = r.field("kind", "u8")
    items.append(kind)
    if kind.value == 1:
        n = r.field("len", "uvar").value
        items.append(Blob("motion", "vblob", [r.raw("motion substream", n)]))
    lengths = [r.field(f"slice_length[{s}]", "uvar") for s in range(slices - 1)]
    items += lengths
    for s, n in enumerate(lengths):
        items.append(r.raw(f"slice {s}", n.value))
    items.append(r.raw(f"slice {slices - 1}", r.left()))
    return items


def _index(r: _Reader) -> list:
    count = r.field("count", "u32")
    items = [count]
    for g in range(count.value):
        items += [r.field(f"entry{g}.offset", "u64"), r.field(f"entry{g}.first_frame", "u32"),
                  r.field(f"entry{g}.frame_count", "u32")]
    items.append(r.field("audio_offset", "u64"))
    return items


def _audio(r: _Reader) -> list:
    items = [r.field(n, k) for n, k in (("version", "u16"), ("start", "i64"), ("end", "i64"),
                                        ("size", "u64"), ("codec_length", "u8"))]
    items.append(r.raw("codec", items[-1].value))
    if r.left():
        items.append(r.raw("trailing", r.left()))
    return items


def parse(data: bytes) -> Tree:
    """The tree of a valid file (the seeds are files the encoder wrote)."""
    if data[:8] != SIGNATURE:
        raise ValueError("not a .fcv file")
    chunks, pos, hashed, slices, version = [], 8, False, 1, (2, 9)
    while pos + 12 <= len(data):
        tag = data[pos:pos + 4]
        (n,) = struct.unpack_from("<I", data, pos + 4)
        r = _Reader(data[pos + 8:pos + 8 + n])
        if tag == b"HEAD":
            items = _head(r)
            hashed = items[20].value != 0
            version = (items[0].value, items[1].value)
        elif tag == b"GRUP":
            items = _group(r, version)
            slices = items[5].value
        elif tag == b"FRAM":
            items = _frame(r, hashed, slices)
        elif tag == b"INDX":
            items = _index(r)
        elif tag == b"TAIL":
            items = [r.field("index_offset", "u64")]
        elif tag == b"auds":
            items = _audio(r)
        else:
            items = [r.raw("payload", n)]
        chunks.append(Chunk(tag, items))
        pos += 12 + n
    return Tree(chunks)


# ----------------------------------------------------------------- writing


def serialize(tree: Tree) -> bytes:
    """The file of a tree: lengths, CRCs, index and tail made consistent, except
    what the mutation marked to stay wrong."""
    for _ in range(2):  # offsets depend on the index's own size: settle them
        out = bytearray(tree.signature)
        offsets = []
        for chunk in tree.chunks:
            payload = b"".join(_pack(i) for i in chunk.items)
            offsets.append(len(out))
            n = len(payload) if chunk.length is None else chunk.length
            crc = zlib.crc32(payload, zlib.crc32(chunk.tag)) & 0xFFFFFFFF
            if chunk.crc_wrong:
                crc ^= 0x5A5A5A5A
            out += chunk.tag + struct.pack("<I", n & 0xFFFFFFFF) + payload + \
                struct.pack("<I", crc)
        if tree.keep_index or not _fix_index(tree, offsets):
            break
    return bytes(out) + tree.trailing


def _fix_index(tree: Tree, offsets: list[int]) -> bool:
    """Point INDX and TAIL at the chunks as they now lie; True if anything changed."""
    groups, audio, index_at = [], 0, None
    for chunk, at in zip(tree.chunks, offsets):
        if chunk.tag == b"GRUP":
            groups.append([at, sum(g[2] for g in groups), 0])
        elif chunk.tag == b"FRAM" and groups:
            groups[-1][2] += 1
        elif chunk.tag == b"auds" and not audio:
            audio = at
        elif chunk.tag == b"INDX" and index_at is None:
            index_at = at
    changed = False
    for chunk in tree.chunks:
        if chunk.tag == b"INDX":
            items = [Field("count", "u32", len(groups))]
            for g, (at, first, count) in enumerate(groups):
                items += [Field(f"entry{g}.offset", "u64", at),
                          Field(f"entry{g}.first_frame", "u32", first),
                          Field(f"entry{g}.frame_count", "u32", count)]
            items.append(Field("audio_offset", "u64", audio))
            changed |= [(i.name, i.value) for i in chunk.items if isinstance(i, Field)] != \
                [(i.name, i.value) for i in items]
            chunk.items = items
        elif chunk.tag == b"TAIL" and index_at is not None:
            changed |= chunk.items[0].value != index_at
            chunk.items = [Field("index_offset", "u64", index_at)]
    return changed


# ----------------------------------------------------------------- mutating


def _walk(items, path=()):
    """(owner list, position, item, path) for every item, blobs' insides included."""
    for k, item in enumerate(items):
        yield items, k, item, path
        if isinstance(item, Blob):
            yield from _walk(item.items, path + (item.name,))


def _all(tree: Tree):
    for c, chunk in enumerate(tree.chunks):
        for owner, k, item, path in _walk(chunk.items):
            yield c, chunk, owner, k, item, path


def _interesting(kind: str, value: int, rng: random.Random) -> int:
    lo, hi = _RANGES[kind]
    small_hi = min(hi, 1 << 20)
    choices = [lo, hi, hi - 1, 0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 65, 127, 128, 255,
               256, 4096, 16384, 16385, 65535, 65536, (1 << 24), (1 << 28), (1 << 31) - 1,
               (1 << 32) - 1, value + 1, value - 1, value * 2, value // 2, -value,
               value ^ (1 << rng.randrange(8 * 8)), rng.randint(lo, small_hi),
               rng.randint(lo, hi)]
    return min(max(rng.choice(choices), lo), hi)


def _mutate_field(tree: Tree, rng: random.Random) -> str:
    fields = [(c, f) for c, chunk, _, _, f, _ in _all(tree) if isinstance(f, Field)]
    if not fields:
        return "no field"
    # HEAD, GRUP and FRAM prefix fields first: they decide sizes and indices
    c, f = rng.choice(fields)
    f.value = _interesting(f.kind, f.value, rng)
    tag = tree.chunks[c].tag
    if tag in (b"INDX", b"TAIL"):
        tree.keep_index = True
    return f"{tag.decode()}.{f.name} = {f.value}"


def _mutate_bytes(tree: Tree, rng: random.Random) -> str:
    parts = [b for _, _, _, _, b, _ in _all(tree) if isinstance(b, Bytes)]
    if not parts:
        return "no bytes"
    b = rng.choice(parts)
    data = bytearray(b.data)
    how = rng.randrange(6)
    if how == 0 and data:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif how == 1:
        del data[rng.randrange(len(data) + 1):]
    elif how == 2:
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif how == 3 and data:
        at = rng.randrange(len(data))
        data[at:at + rng.randint(1, 16)] = bytes(rng.randint(1, 16)) if rng.random() < 0.5 \
            else b"\xff" * rng.randint(1, 16)
    elif how == 4:
        other = rng.choice(parts)
        data = bytearray(other.data)
    else:
        data = bytearray()
    b.data = bytes(data)
    return f"bytes {b.name}: {['flip', 'cut', 'grow', 'overwrite', 'swap', 'empty'][how]}"


def _mutate_length(tree: Tree, rng: random.Random) -> str:
    blobs = [(chunk, b) for _, chunk, _, _, b, _ in _all(tree) if isinstance(b, Blob)]
    if blobs and rng.random() < 0.6:
        _, b = rng.choice(blobs)
        b.length = _interesting("u32", len(b"".join(_pack(i) for i in b.items)), rng)
        return f"blob {b.name} length {b.length}"
    if not tree.chunks:
        return "no chunk"
    chunk = rng.choice(tree.chunks)
    chunk.length = _interesting("u32", 0, rng)
    return f"chunk {chunk.tag.decode()} length {chunk.length}"


def _mutate_chunks(tree: Tree, rng: random.Random) -> str:
    chunks = tree.chunks
    if not chunks:
        return "no chunk"
    how = rng.randrange(7)
    i, j = rng.randrange(len(chunks)), rng.randrange(len(chunks))
    if how == 0 and len(chunks) > 1:
        del chunks[i]
        return f"chunk {i} deleted"
    if how == 1:
        chunks.insert(j, copy.deepcopy(chunks[i]))
        return f"chunk {i} duplicated at {j}"
    if how == 2:
        chunks[i], chunks[j] = chunks[j], chunks[i]
        return f"chunks {i} and {j} swapped"
    if how == 3:
        tag = bytes(rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
        if rng.random() < 0.5:
            tag = tag.lower()
        chunks.insert(j, Chunk(tag, [Bytes("payload", bytes(rng.randrange(256) for _ in
                                                            range(rng.randint(0, 40))))]))
        return f"chunk {tag.decode()} inserted at {j}"
    if how == 4:
        chunks[i].crc_wrong = True
        return f"chunk {i} CRC wrong"
    if how == 5:
        tree.trailing = bytes(rng.randrange(256) for _ in range(rng.randint(1, 30)))
        return "trailing bytes after the tail"
    tree.keep_index = True
    cut = rng.randrange(1, len(chunks) + 1)
    del chunks[cut:]
    return f"file cut after chunk {cut}"


MUTATORS = [(_mutate_field, 0.45), (_mutate_bytes, 0.3), (_mutate_length, 0.1),
            (_mutate_chunks, 0.15)]


def mutate(tree: Tree, rng: random.Random, count: int | None = None) -> tuple[Tree, list[str]]:
    """A mutated copy of ``tree`` and what was done to it."""
    out = copy.deepcopy(tree)
    done = []
    for _ in range(count or rng.choice((1, 1, 1, 2, 2, 3))):
        fn = rng.choices([m for m, _ in MUTATORS], [w for _, w in MUTATORS])[0]
        done.append(fn(out, rng))
    return out, done
