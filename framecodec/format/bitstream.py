# SPDX-License-Identifier: MIT
"""Little-endian fields in byte strings, with reads that never run past the end.

Fixed-size integers, and LEB128 variable-length ones (``uvar``: 7 bits per
byte, low bits first, high bit set on every byte but the last; ``svar``: the
zigzag map 0, -1, 1, -2, ... onto ``uvar``): at most 10 bytes, minimally
coded, values below 2**64 (so any i64 fits an ``svar``).

Every read checks the remaining length first and raises ``CorruptError``
naming the field, so damaged payloads fail cleanly instead of indexing out of
bounds or allocating what a corrupt length field asks for.
"""

from __future__ import annotations

import struct

from ..errors import CorruptError

__all__ = ["ByteWriter", "ByteReader", "VAR_BYTES", "VAR_LIMIT"]

VAR_BYTES = 10
VAR_LIMIT = 1 << 64


class ByteWriter:
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, v: int) -> ByteWriter:
        self._parts.append(struct.pack("<B", v))
        return self

    def u16(self, v: int) -> ByteWriter:
        self._parts.append(struct.pack("<H", v))
        return self

    def u32(self, v: int) -> ByteWriter:
        self._parts.append(struct.pack("<I", v))
        return self

    def u64(self, v: int) -> ByteWriter:
        self._parts.append(struct.pack("<Q", v))
        return self

    def i64(self, v: int) -> ByteWriter:
        self._parts.append(struct.pack("<q", v))
        return self

    def uvar(self, v: int) -> ByteWriter:
        if not 0 <= v < VAR_LIMIT:
            raise ValueError(f"{v} does not fit a variable-length field")
        out = bytearray()
        while v >= 0x80:
            out.append(0x80 | (v & 0x7F))
            v >>= 7
        out.append(v)
        self._parts.append(bytes(out))
        return self

    def svar(self, v: int) -> ByteWriter:
        return self.uvar(2 * v if v >= 0 else -2 * v - 1)

    def raw(self, data: bytes) -> ByteWriter:
        self._parts.append(bytes(data))
        return self

    def blob(self, data: bytes) -> ByteWriter:
        """u32 length, then the bytes."""
        return self.u32(len(data)).raw(data)

    def vblob(self, data: bytes) -> ByteWriter:
        """uvar length, then the bytes."""
        return self.uvar(len(data)).raw(data)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class ByteReader:
    def __init__(self, data: bytes, what: str = "record", **where) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._what = what
        self._where = where

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def _take(self, n: int, field: str) -> memoryview:
        if n < 0 or n > self.remaining:
            raise CorruptError(f"{self._what} truncated in {field}", **self._where)
        out = self._data[self._pos:self._pos + n]
        self._pos += n
        return out

    def _unpack(self, fmt: str, field: str) -> int:
        return struct.unpack(fmt, self._take(struct.calcsize(fmt), field))[0]

    def u8(self, field: str = "u8") -> int:
        return self._unpack("<B", field)

    def u16(self, field: str = "u16") -> int:
        return self._unpack("<H", field)

    def u32(self, field: str = "u32") -> int:
        return self._unpack("<I", field)

    def u64(self, field: str = "u64") -> int:
        return self._unpack("<Q", field)

    def i64(self, field: str = "i64") -> int:
        return self._unpack("<q", field)

    def uvar(self, field: str = "uvar") -> int:
        v = 0
        for shift in range(0, 7 * VAR_BYTES, 7):
            b = self._take(1, field)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                if (b == 0 and shift) or v >= VAR_LIMIT:
                    raise CorruptError(f"{self._what}: {field} is not a valid "
                                       f"variable-length integer", **self._where)
                return v
        raise CorruptError(f"{self._what}: {field} is longer than {VAR_BYTES} bytes",
                           **self._where)

    def svar(self, field: str = "svar") -> int:
        u = self.uvar(field)
        return u >> 1 if not u & 1 else -(u >> 1) - 1

    def raw(self, n: int, field: str = "bytes") -> bytes:
        return bytes(self._take(n, field))

    def blob(self, field: str = "blob") -> bytes:
        return self.raw(self.u32(field + " length"), field)

    def vblob(self, field: str = "blob") -> bytes:
        return self.raw(self.uvar(field + " length"), field)

    def expect_end(self) -> None:
        if self.remaining:
            raise CorruptError(f"{self._what} has {self.remaining} unexpected trailing bytes",
                               **self._where)
